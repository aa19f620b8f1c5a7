"""A user was added to a group whose name says it grants administration."""

from aws_bench_helpers import actor_name, aws_rule_context, is_success

ADMIN_MARKERS = ("admin", "root", "poweruser")


def rule(event):
    if event.get("eventName") != "AddUserToGroup" or not is_success(event):
        return False
    group = event.deep_get("requestParameters", "groupName", default="").lower()
    return any(marker in group for marker in ADMIN_MARKERS)


def title(event):
    return (
        f"[{actor_name(event)}] added [{event.deep_get('requestParameters', 'userName')}] "
        f"to [{event.deep_get('requestParameters', 'groupName')}]"
    )


def alert_context(event):
    return aws_rule_context(event)
