"""An ECR repository policy lets anyone pull images."""

import json

from aws_bench_helpers import actor_name, aws_rule_context, is_success


def rule(event):
    if event.get("eventName") != "SetRepositoryPolicy" or not is_success(event):
        return False
    text = event.deep_get("requestParameters", "policyText", default="")
    try:
        policy = json.loads(text)
    except ValueError:
        return False
    found = policy.get("Statement", [])
    for statement in [found] if isinstance(found, dict) else found:
        principal = statement.get("Principal")
        if statement.get("Effect") == "Allow" and principal in ("*", {"AWS": "*"}):
            return True
    return False


def title(event):
    return f"ECR repository [{event.deep_get('requestParameters', 'repositoryName')}] made public"


def alert_context(event):
    return aws_rule_context(event)
