"""A machine image was shared with everyone."""

from aws_bench_helpers import actor_name, aws_rule_context, is_success


def rule(event):
    if event.get("eventName") != "ModifyImageAttribute" or not is_success(event):
        return False
    added = event.deep_get("requestParameters", "launchPermission", "add", "items", default=[])
    return any(item.get("group") == "all" for item in added)


def title(event):
    return f"AMI [{event.deep_get('requestParameters', 'imageId')}] made public by [{actor_name(event)}]"


def alert_context(event):
    return aws_rule_context(event)
