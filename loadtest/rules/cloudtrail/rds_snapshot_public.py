"""An RDS snapshot was shared with everyone."""

from aws_bench_helpers import actor_name, aws_rule_context, is_success


def rule(event):
    if event.get("eventName") not in ("ModifyDBSnapshotAttribute", "ModifyDBClusterSnapshotAttribute"):
        return False
    if not is_success(event):
        return False
    if event.deep_get("requestParameters", "attributeName") != "restore":
        return False
    return "all" in (event.deep_get("requestParameters", "valuesToAdd", default=[]) or [])


def title(event):
    snapshot = event.deep_get("requestParameters", "dBSnapshotIdentifier") or event.deep_get(
        "requestParameters", "dBClusterSnapshotIdentifier"
    )
    return f"RDS snapshot [{snapshot}] made public by [{actor_name(event)}]"


def alert_context(event):
    return aws_rule_context(event)
