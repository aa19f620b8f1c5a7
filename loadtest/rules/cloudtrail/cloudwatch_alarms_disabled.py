"""CloudWatch alarms were deleted or their actions disabled."""

from aws_bench_helpers import actor_name, aws_rule_context, is_success

EVENT_NAMES = {"DeleteAlarms", "DisableAlarmActions"}


def rule(event):
    if event.get("eventSource") != "monitoring.amazonaws.com":
        return False
    if event.get("eventName") not in EVENT_NAMES:
        return False
    if not is_success(event):
        return False
    return True


def title(event):
    return f"CloudWatch alarms disabled with [{event.get('eventName')}] by [{actor_name(event)}]"


def alert_context(event):
    return aws_rule_context(event)
