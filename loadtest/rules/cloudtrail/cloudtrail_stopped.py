"""A trail was stopped or deleted: API activity is no longer recorded."""

from aws_bench_helpers import actor_name, aws_rule_context, is_success

EVENT_NAMES = {"DeleteTrail", "StopLogging"}


def rule(event):
    if event.get("eventSource") != "cloudtrail.amazonaws.com":
        return False
    if event.get("eventName") not in EVENT_NAMES:
        return False
    if not is_success(event):
        return False
    return True


def title(event):
    return f"CloudTrail [{event.deep_get('requestParameters', 'name')}] stopped with [{event.get('eventName')}] by [{actor_name(event)}]"


def alert_context(event):
    return aws_rule_context(event)
