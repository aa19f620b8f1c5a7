"""An account left the AWS organization, escaping its guardrails."""

from aws_bench_helpers import actor_name, aws_rule_context, is_success

EVENT_NAMES = {"LeaveOrganization", "RemoveAccountFromOrganization"}


def rule(event):
    if event.get("eventSource") != "organizations.amazonaws.com":
        return False
    if event.get("eventName") not in EVENT_NAMES:
        return False
    if not is_success(event):
        return False
    return True


def title(event):
    return f"Account [{event.get('recipientAccountId')}] left the organization"


def alert_context(event):
    return aws_rule_context(event)
