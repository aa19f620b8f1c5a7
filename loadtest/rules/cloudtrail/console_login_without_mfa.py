"""An IAM user signed in to the console with a password only."""

from aws_bench_helpers import actor_name, aws_rule_context


def rule(event):
    if event.get("eventName") != "ConsoleLogin":
        return False
    if event.deep_get("userIdentity", "type") != "IAMUser":
        return False
    if event.deep_get("responseElements", "ConsoleLogin") != "Success":
        return False
    return event.deep_get("additionalEventData", "MFAUsed") != "Yes"


def title(event):
    return f"[{actor_name(event)}] signed in to the console without MFA"


def dedup(event):
    return actor_name(event)


def alert_context(event):
    return aws_rule_context(event)
