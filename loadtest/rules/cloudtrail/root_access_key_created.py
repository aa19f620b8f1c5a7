"""An access key was created for the root user."""

from aws_bench_helpers import aws_rule_context, is_success


def rule(event):
    return (
        event.get("eventName") == "CreateAccessKey"
        and event.deep_get("userIdentity", "type") == "Root"
        and not event.deep_get("requestParameters", "userName")
        and is_success(event)
    )


def title(event):
    return f"Root access key created in account [{event.get('recipientAccountId')}]"


def alert_context(event):
    return aws_rule_context(event)
