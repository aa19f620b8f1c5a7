"""A role was assumed by a principal from an account outside the organization."""

from aws_bench_helpers import aws_rule_context, is_success

ORG_ACCOUNTS = {"123456789012", "210987654321", "111122223333"}


def rule(event):
    if event.get("eventName") != "AssumeRole" or not is_success(event):
        return False
    if event.get("eventSource") != "sts.amazonaws.com":
        return False
    if event.deep_get("userIdentity", "type") == "AWSService":
        return False
    caller = event.deep_get("userIdentity", "accountId")
    return bool(caller) and caller not in ORG_ACCOUNTS


def title(event):
    return (
        f"Account [{event.deep_get('userIdentity', 'accountId')}] assumed "
        f"[{event.deep_get('requestParameters', 'roleArn')}]"
    )


def dedup(event):
    return event.deep_get("userIdentity", "accountId", default="<UNKNOWN>")


def alert_context(event):
    return aws_rule_context(event)
