"""A resource was changed in a region the company does not use."""

from aws_bench_helpers import actor_name, aws_rule_context, is_success

APPROVED_REGIONS = {"us-east-1", "us-west-2", "eu-west-1"}
# Global services record their calls in us-east-1 or a region of their own.
GLOBAL_SOURCES = {"iam.amazonaws.com", "sts.amazonaws.com", "signin.amazonaws.com", "organizations.amazonaws.com", "route53.amazonaws.com", "cloudfront.amazonaws.com"}


def rule(event):
    if event.get("readOnly") or not is_success(event):
        return False
    if event.get("eventSource") in GLOBAL_SOURCES:
        return False
    return event.get("awsRegion") not in APPROVED_REGIONS


def title(event):
    return (
        f"[{actor_name(event)}] called [{event.get('eventName')}] in unused region "
        f"[{event.get('awsRegion')}]"
    )


def dedup(event):
    return event.get("awsRegion")


def alert_context(event):
    return aws_rule_context(event)
