"""The root user signed in to the AWS console. Root should be locked away and used only for the few tasks that need it."""

from aws_bench_helpers import aws_rule_context


def rule(event):
    return (
        event.get("eventName") == "ConsoleLogin"
        and event.deep_get("userIdentity", "type") == "Root"
        and event.deep_get("responseElements", "ConsoleLogin") == "Success"
    )


def title(event):
    return (
        f"Root console login to account [{event.get('recipientAccountId')}] "
        f"from [{event.get('sourceIPAddress')}]"
    )


def dedup(event):
    return event.get("sourceIPAddress", "<UNKNOWN_IP>")


def alert_context(event):
    return aws_rule_context(event)
