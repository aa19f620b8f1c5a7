"""An EBS snapshot was shared with everyone."""

from aws_bench_helpers import actor_name, aws_rule_context, is_success


def rule(event):
    if event.get("eventName") != "ModifySnapshotAttribute" or not is_success(event):
        return False
    added = event.deep_get("requestParameters", "createVolumePermission", "add", "items", default=[])
    return any(item.get("group") == "all" for item in added)


def title(event):
    return f"Snapshot [{event.deep_get('requestParameters', 'snapshotId')}] made public"


def alert_context(event):
    return aws_rule_context(event)
