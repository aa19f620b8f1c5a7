"""A secret was deleted without a recovery window."""

from aws_bench_helpers import actor_name, aws_rule_context, is_success


def rule(event):
    if event.get("eventName") != "DeleteSecret" or not is_success(event):
        return False
    return bool(event.deep_get("requestParameters", "forceDeleteWithoutRecovery"))


def title(event):
    return f"Secret [{event.deep_get('requestParameters', 'secretId')}] deleted for good"


def alert_context(event):
    return aws_rule_context(event)
