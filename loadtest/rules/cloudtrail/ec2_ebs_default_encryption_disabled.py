"""Default EBS encryption was turned off in a region."""

from aws_bench_helpers import actor_name, aws_rule_context, is_success

EVENT_NAMES = {"DisableEbsEncryptionByDefault"}


def rule(event):
    if event.get("eventSource") != "ec2.amazonaws.com":
        return False
    if event.get("eventName") not in EVENT_NAMES:
        return False
    if not is_success(event):
        return False
    return True


def title(event):
    return f"Default EBS encryption disabled in [{event.get('awsRegion')}]"


def alert_context(event):
    return aws_rule_context(event)
