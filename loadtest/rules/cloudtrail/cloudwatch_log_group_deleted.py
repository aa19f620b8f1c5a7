"""A CloudWatch log group or its retention was deleted."""

from aws_bench_helpers import actor_name, aws_rule_context, is_success

EVENT_NAMES = {"DeleteLogGroup", "DeleteRetentionPolicy"}


def rule(event):
    if event.get("eventSource") != "logs.amazonaws.com":
        return False
    if event.get("eventName") not in EVENT_NAMES:
        return False
    if not is_success(event):
        return False
    return True


def title(event):
    return f"Log group [{event.deep_get('requestParameters', 'logGroupName')}] changed with [{event.get('eventName')}]"


def alert_context(event):
    return aws_rule_context(event)
