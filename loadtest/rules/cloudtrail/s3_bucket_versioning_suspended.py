"""Versioning was suspended on a bucket, making deletions final (a ransomware step)."""

from aws_bench_helpers import actor_name, aws_rule_context, is_success


def rule(event):
    if event.get("eventName") != "PutBucketVersioning" or not is_success(event):
        return False
    return event.deep_get("requestParameters", "VersioningConfiguration", "Status") == "Suspended"


def title(event):
    return f"Versioning suspended on [{event.deep_get('requestParameters', 'bucketName')}]"


def alert_context(event):
    return aws_rule_context(event)
