"""A bucket ACL granted access to everyone (AllUsers) or to any AWS account (AuthenticatedUsers)."""

from aws_bench_helpers import actor_name, aws_rule_context, is_success

PUBLIC_GROUPS = (
    "http://acs.amazonaws.com/groups/global/AllUsers",
    "http://acs.amazonaws.com/groups/global/AuthenticatedUsers",
)
PUBLIC_CANNED = {"public-read", "public-read-write", "authenticated-read"}


def grants(event):
    policy = event.deep_get("requestParameters", "AccessControlPolicy", "AccessControlList", "Grant")
    if policy is None:
        return []
    if hasattr(policy, "keys"):
        return [policy]
    return list(policy)


def rule(event):
    if event.get("eventName") != "PutBucketAcl" or not is_success(event):
        return False
    if event.deep_get("requestParameters", "x-amz-acl") in PUBLIC_CANNED:
        return True
    for grant in grants(event):
        uri = grant.get("Grantee", {}).get("URI", "")
        if uri in PUBLIC_GROUPS:
            return True
    return False


def title(event):
    return (
        f"Bucket [{event.deep_get('requestParameters', 'bucketName')}] made public "
        f"by [{actor_name(event)}]"
    )


def dedup(event):
    return event.deep_get("requestParameters", "bucketName", default="<UNKNOWN_BUCKET>")


def alert_context(event):
    return aws_rule_context(event)
