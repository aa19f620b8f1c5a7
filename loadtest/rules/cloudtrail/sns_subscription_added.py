"""A subscription was added to an SNS topic."""

from aws_bench_helpers import actor_name, aws_rule_context, is_success

EVENT_NAMES = {"Subscribe"}


def rule(event):
    if event.get("eventSource") != "sns.amazonaws.com":
        return False
    if event.get("eventName") not in EVENT_NAMES:
        return False
    if not is_success(event):
        return False
    return True


def title(event):
    return f"SNS subscription added to [{event.deep_get('requestParameters', 'topicArn')}]"


def alert_context(event):
    return aws_rule_context(event)
