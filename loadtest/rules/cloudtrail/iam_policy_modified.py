"""An IAM policy was created, changed, attached or detached."""

from aws_bench_helpers import actor_name, aws_rule_context, is_success

EVENT_NAMES = {"AttachGroupPolicy", "AttachRolePolicy", "AttachUserPolicy", "CreatePolicy", "CreatePolicyVersion", "DeleteGroupPolicy", "DeletePolicy", "DeletePolicyVersion", "DeleteRolePolicy", "DeleteUserPolicy", "DetachGroupPolicy", "DetachRolePolicy", "DetachUserPolicy", "PutGroupPolicy", "PutRolePolicy", "PutUserPolicy", "SetDefaultPolicyVersion"}


def rule(event):
    if event.get("eventSource") != "iam.amazonaws.com":
        return False
    if event.get("eventName") not in EVENT_NAMES:
        return False
    if not is_success(event):
        return False
    return True


def title(event):
    return f"[{actor_name(event)}] changed IAM policy with [{event.get('eventName')}]"


def dedup(event):
    return actor_name(event)


def alert_context(event):
    return aws_rule_context(event)
