"""Server access logging was turned off for a bucket."""

from aws_bench_helpers import actor_name, aws_rule_context, is_success


def rule(event):
    if event.get("eventName") != "PutBucketLogging" or not is_success(event):
        return False
    return not event.deep_get("requestParameters", "BucketLoggingStatus", "LoggingEnabled")


def title(event):
    return (
        f"Access logging disabled on [{event.deep_get('requestParameters', 'bucketName')}] "
        f"by [{actor_name(event)}]"
    )


def alert_context(event):
    return aws_rule_context(event)
