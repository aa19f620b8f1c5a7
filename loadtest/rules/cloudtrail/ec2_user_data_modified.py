"""An instance's user data (the script it runs at boot) was changed."""

from aws_bench_helpers import actor_name, aws_rule_context, is_success


def rule(event):
    if event.get("eventName") != "ModifyInstanceAttribute" or not is_success(event):
        return False
    return event.deep_get("requestParameters", "userData") is not None


def title(event):
    return (
        f"User data of [{event.deep_get('requestParameters', 'instanceId')}] changed "
        f"by [{actor_name(event)}]"
    )


def alert_context(event):
    return aws_rule_context(event)
