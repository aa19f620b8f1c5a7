"""A GuardDuty detector was deleted or disabled, or the account left its GuardDuty administrator."""

from aws_bench_helpers import actor_name, aws_rule_context, is_success

ALWAYS = {"DeleteDetector", "DisassociateFromAdministratorAccount", "DisassociateFromMasterAccount", "DeleteMembers"}


def rule(event):
    if event.get("eventSource") != "guardduty.amazonaws.com" or not is_success(event):
        return False
    name = event.get("eventName")
    if name in ALWAYS:
        return True
    return name == "UpdateDetector" and event.deep_get("requestParameters", "enable") is False


def title(event):
    return f"GuardDuty disabled with [{event.get('eventName')}] by [{actor_name(event)}]"


def alert_context(event):
    return aws_rule_context(event)
