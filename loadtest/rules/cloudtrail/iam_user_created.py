"""A new IAM user was created."""

from aws_bench_helpers import actor_name, aws_rule_context, is_success

EVENT_NAMES = {"CreateUser"}


def rule(event):
    if event.get("eventSource") != "iam.amazonaws.com":
        return False
    if event.get("eventName") not in EVENT_NAMES:
        return False
    if not is_success(event):
        return False
    return True


def title(event):
    return f"[{actor_name(event)}] created IAM user [{event.deep_get('requestParameters', 'userName')}]"


def alert_context(event):
    return aws_rule_context(event)
