"""The Windows administrator password of an instance was retrieved."""

from aws_bench_helpers import actor_name, aws_rule_context, is_success

EVENT_NAMES = {"GetPasswordData"}


def rule(event):
    if event.get("eventSource") != "ec2.amazonaws.com":
        return False
    if event.get("eventName") not in EVENT_NAMES:
        return False
    if not is_success(event):
        return False
    return True


def title(event):
    return f"[{actor_name(event)}] retrieved the password of [{event.deep_get('requestParameters', 'instanceId')}]"


def alert_context(event):
    return aws_rule_context(event)
