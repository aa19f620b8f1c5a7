"""A customer-managed KMS key was scheduled for deletion; data encrypted with it becomes unreadable."""

from aws_bench_helpers import actor_name, aws_rule_context, is_success

EVENT_NAMES = {"ScheduleKeyDeletion"}


def rule(event):
    if event.get("eventSource") != "kms.amazonaws.com":
        return False
    if event.get("eventName") not in EVENT_NAMES:
        return False
    if not is_success(event):
        return False
    return True


def title(event):
    return f"KMS key [{event.deep_get('requestParameters', 'keyId')}] scheduled for deletion by [{actor_name(event)}]"


def alert_context(event):
    return aws_rule_context(event)
