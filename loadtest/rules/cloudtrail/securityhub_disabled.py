"""Security Hub, or one of its standards, was turned off."""

from aws_bench_helpers import actor_name, aws_rule_context, is_success

EVENT_NAMES = {"BatchDisableStandards", "DisableImportFindingsForProduct", "DisableSecurityHub"}


def rule(event):
    if event.get("eventSource") != "securityhub.amazonaws.com":
        return False
    if event.get("eventName") not in EVENT_NAMES:
        return False
    if not is_success(event):
        return False
    return True


def title(event):
    return f"Security Hub disabled with [{event.get('eventName')}] by [{actor_name(event)}]"


def alert_context(event):
    return aws_rule_context(event)
