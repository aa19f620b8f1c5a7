"""A domain's transfer lock was removed or a transfer out was started."""

from aws_bench_helpers import actor_name, aws_rule_context, is_success

EVENT_NAMES = {"DisableDomainTransferLock", "TransferDomainToAnotherAwsAccount"}


def rule(event):
    if event.get("eventSource") != "route53domains.amazonaws.com":
        return False
    if event.get("eventName") not in EVENT_NAMES:
        return False
    if not is_success(event):
        return False
    return True


def title(event):
    return f"Domain [{event.deep_get('requestParameters', 'domainName')}] transfer with [{event.get('eventName')}]"


def alert_context(event):
    return aws_rule_context(event)
