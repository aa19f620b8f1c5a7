"""A Lambda function's code or layers were changed by a person rather than the deploy pipeline."""

from aws_bench_helpers import actor_name, aws_rule_context, is_success

UPDATE_PREFIXES = ("UpdateFunctionCode", "UpdateFunctionConfiguration", "PublishLayerVersion")


def rule(event):
    if event.get("eventSource") != "lambda.amazonaws.com" or not is_success(event):
        return False
    if not event.get("eventName", "").startswith(UPDATE_PREFIXES):
        return False
    return event.deep_get("userIdentity", "type") in ("IAMUser", "Root")


def title(event):
    return (
        f"[{actor_name(event)}] changed Lambda "
        f"[{event.deep_get('requestParameters', 'functionName')}] by hand"
    )


def dedup(event):
    return actor_name(event)


def alert_context(event):
    return aws_rule_context(event)
