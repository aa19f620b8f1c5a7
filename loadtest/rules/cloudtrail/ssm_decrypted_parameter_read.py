"""A person (not a workload) read a SecureString parameter in clear text."""

from aws_bench_helpers import actor_name, aws_rule_context, is_success


def rule(event):
    if event.get("eventSource") != "ssm.amazonaws.com" or not is_success(event):
        return False
    if event.get("eventName") not in ("GetParameter", "GetParameters", "GetParametersByPath"):
        return False
    if not event.deep_get("requestParameters", "withDecryption"):
        return False
    return event.deep_get("userIdentity", "type") == "IAMUser"


def title(event):
    return f"[{actor_name(event)}] read decrypted SSM parameters"


def dedup(event):
    return actor_name(event)


def alert_context(event):
    return aws_rule_context(event)
