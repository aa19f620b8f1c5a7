"""A bucket policy allows any principal ("*") without a condition."""

from aws_bench_helpers import actor_name, aws_rule_context, is_success


def statements(event):
    found = event.deep_get("requestParameters", "bucketPolicy", "Statement", default=[])
    if hasattr(found, "keys"):
        return [found]
    return list(found)


def is_anyone(principal):
    if principal == "*":
        return True
    if hasattr(principal, "keys"):
        aws = principal.get("AWS")
        return aws == "*" or (not isinstance(aws, str) and aws is not None and "*" in aws)
    return False


def rule(event):
    if event.get("eventName") != "PutBucketPolicy" or not is_success(event):
        return False
    for statement in statements(event):
        if statement.get("Effect") != "Allow" or statement.get("Condition"):
            continue
        if is_anyone(statement.get("Principal")):
            return True
    return False


def title(event):
    return (
        f"Bucket [{event.deep_get('requestParameters', 'bucketName')}] policy allows anyone, "
        f"set by [{actor_name(event)}]"
    )


def dedup(event):
    return event.deep_get("requestParameters", "bucketName", default="<UNKNOWN_BUCKET>")


def alert_context(event):
    return aws_rule_context(event)
