"""A GPU or very large instance was launched, a common sign of cryptocurrency mining with stolen credentials."""

from aws_bench_helpers import actor_name, aws_rule_context, is_success

MINING_FAMILIES = ("p2.", "p3.", "p4d.", "p5.", "g4dn.", "g5.", "x1e.")
LARGE_SIZES = (".16xlarge", ".24xlarge", ".32xlarge", ".metal")


def instance_type(event):
    return event.deep_get("requestParameters", "instanceType", default="") or ""


def rule(event):
    if event.get("eventName") != "RunInstances" or not is_success(event):
        return False
    kind = instance_type(event)
    return kind.startswith(MINING_FAMILIES) or kind.endswith(LARGE_SIZES)


def title(event):
    return f"[{actor_name(event)}] launched a [{instance_type(event)}] in [{event.get('awsRegion')}]"


def dedup(event):
    return actor_name(event)


def alert_context(event):
    context = aws_rule_context(event)
    context["instanceType"] = instance_type(event)
    return context
