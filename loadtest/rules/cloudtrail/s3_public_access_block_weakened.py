"""S3 Block Public Access was removed or one of its settings turned off, for a bucket or the account."""

from aws_bench_helpers import actor_name, aws_rule_context, is_success

SETTINGS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")


def rule(event):
    if not is_success(event):
        return False
    name = event.get("eventName")
    if name in ("DeleteBucketPublicAccessBlock", "DeleteAccountPublicAccessBlock"):
        return True
    if name not in ("PutBucketPublicAccessBlock", "PutAccountPublicAccessBlock"):
        return False
    config = event.deep_get("requestParameters", "PublicAccessBlockConfiguration", default={})
    return any(config.get(setting) is False for setting in SETTINGS)


def title(event):
    target = event.deep_get("requestParameters", "bucketName", default="the account")
    return f"Block Public Access weakened on [{target}] by [{actor_name(event)}]"


def alert_context(event):
    return aws_rule_context(event)
