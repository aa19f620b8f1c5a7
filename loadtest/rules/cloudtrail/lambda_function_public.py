"""A Lambda function's resource policy now lets anyone invoke it."""

from aws_bench_helpers import actor_name, aws_rule_context, is_success


def rule(event):
    if event.get("eventSource") != "lambda.amazonaws.com" or not is_success(event):
        return False
    if not event.get("eventName", "").startswith("AddPermission"):
        return False
    return event.deep_get("requestParameters", "principal") == "*"


def title(event):
    return (
        f"Lambda [{event.deep_get('requestParameters', 'functionName')}] made public "
        f"by [{actor_name(event)}]"
    )


def alert_context(event):
    return aws_rule_context(event)
