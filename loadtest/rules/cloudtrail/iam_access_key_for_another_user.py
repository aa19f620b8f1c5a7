"""An IAM user created an access key for a different user, a known persistence technique."""

from aws_bench_helpers import actor_name, aws_rule_context, is_success


def rule(event):
    if event.get("eventName") != "CreateAccessKey" or not is_success(event):
        return False
    target = event.deep_get("requestParameters", "userName")
    if not target:
        return False
    return target != event.deep_get("userIdentity", "userName")


def title(event):
    return (
        f"[{actor_name(event)}] created an access key for "
        f"[{event.deep_get('requestParameters', 'userName')}]"
    )


def alert_context(event):
    return aws_rule_context(event)
