"""The root user made an API call (other than signing in)."""

from aws_bench_helpers import aws_rule_context


def rule(event):
    if event.deep_get("userIdentity", "type") != "Root":
        return False
    if event.deep_get("userIdentity", "invokedBy"):
        return False
    return event.get("eventType") != "AwsServiceEvent" and event.get("eventName") != "ConsoleLogin"


def title(event):
    return (
        f"Root user called [{event.get('eventSource')}:{event.get('eventName')}] "
        f"in [{event.get('recipientAccountId')}]"
    )


def dedup(event):
    return event.get("eventName", "<UNKNOWN>")


def alert_context(event):
    return aws_rule_context(event)
