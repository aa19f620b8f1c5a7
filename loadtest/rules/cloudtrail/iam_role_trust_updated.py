"""A role's trust (assume-role) policy changed: who may assume the role changed."""

from aws_bench_helpers import actor_name, aws_rule_context, is_success

EVENT_NAMES = {"UpdateAssumeRolePolicy"}


def rule(event):
    if event.get("eventSource") != "iam.amazonaws.com":
        return False
    if event.get("eventName") not in EVENT_NAMES:
        return False
    if not is_success(event):
        return False
    return True


def title(event):
    return f"Trust policy of role [{event.deep_get('requestParameters', 'roleName')}] changed by [{actor_name(event)}]"


def alert_context(event):
    return aws_rule_context(event)
