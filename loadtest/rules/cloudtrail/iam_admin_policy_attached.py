"""The AWS-managed AdministratorAccess policy was attached to a user, group or role."""

from aws_bench_helpers import actor_name, aws_rule_context, is_success

ATTACH_EVENTS = {"AttachGroupPolicy", "AttachRolePolicy", "AttachUserPolicy"}


def principal(event):
    for key in ("userName", "roleName", "groupName"):
        value = event.deep_get("requestParameters", key)
        if value:
            return value
    return "<UNKNOWN>"


def rule(event):
    if event.get("eventName") not in ATTACH_EVENTS or not is_success(event):
        return False
    arn = event.deep_get("requestParameters", "policyArn", default="")
    return arn.endswith(":policy/AdministratorAccess")


def title(event):
    return f"[{actor_name(event)}] gave AdministratorAccess to [{principal(event)}]"


def alert_context(event):
    context = aws_rule_context(event)
    context["principal"] = principal(event)
    return context
