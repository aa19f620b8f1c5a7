"""Default encryption was removed from a bucket."""

from aws_bench_helpers import actor_name, aws_rule_context, is_success

EVENT_NAMES = {"DeleteBucketEncryption"}


def rule(event):
    if event.get("eventSource") != "s3.amazonaws.com":
        return False
    if event.get("eventName") not in EVENT_NAMES:
        return False
    if not is_success(event):
        return False
    return True


def title(event):
    return f"Default encryption removed from [{event.deep_get('requestParameters', 'bucketName')}]"


def alert_context(event):
    return aws_rule_context(event)
