"""A database instance was created or changed to be reachable from the internet."""

from aws_bench_helpers import actor_name, aws_rule_context, is_success


def rule(event):
    if event.get("eventName") not in ("CreateDBInstance", "ModifyDBInstance", "RestoreDBInstanceFromDBSnapshot"):
        return False
    if not is_success(event):
        return False
    return event.deep_get("requestParameters", "publiclyAccessible") is True


def title(event):
    return (
        f"RDS instance [{event.deep_get('requestParameters', 'dBInstanceIdentifier')}] "
        f"made public by [{actor_name(event)}]"
    )


def alert_context(event):
    return aws_rule_context(event)
