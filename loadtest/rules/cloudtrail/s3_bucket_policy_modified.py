"""A bucket's policy, ACL, CORS, lifecycle or replication configuration changed."""

from aws_bench_helpers import actor_name, aws_rule_context, is_success

EVENT_NAMES = {"DeleteBucketCors", "DeleteBucketLifecycle", "DeleteBucketPolicy", "DeleteBucketReplication", "PutBucketAcl", "PutBucketCors", "PutBucketLifecycle", "PutBucketPolicy", "PutBucketReplication"}


def rule(event):
    if event.get("eventSource") != "s3.amazonaws.com":
        return False
    if event.get("eventName") not in EVENT_NAMES:
        return False
    if not is_success(event):
        return False
    return True


def title(event):
    return f"[{actor_name(event)}] changed bucket [{event.deep_get('requestParameters', 'bucketName')}] with [{event.get('eventName')}]"


def dedup(event):
    return event.deep_get('requestParameters', 'bucketName', default='<UNKNOWN_BUCKET>')


def alert_context(event):
    return aws_rule_context(event)
