"""An IAM user was deleted."""

from aws_bench_helpers import actor_name, aws_rule_context, is_success

EVENT_NAMES = {"DeleteUser"}


def rule(event):
    if event.get("eventSource") != "iam.amazonaws.com":
        return False
    if event.get("eventName") not in EVENT_NAMES:
        return False
    if not is_success(event):
        return False
    return True


def title(event):
    return f"IAM user [{event.deep_get('requestParameters', 'userName')}] deleted by [{actor_name(event)}]"


def alert_context(event):
    return aws_rule_context(event)
