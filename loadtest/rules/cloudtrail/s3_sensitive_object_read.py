"""An object in a sensitive bucket was read from outside the corporate networks."""

import ipaddress

from aws_bench_helpers import actor_name, aws_rule_context

SENSITIVE_BUCKETS = {"corp-payroll", "corp-secrets", "corp-customer-exports"}
CORPORATE_NETWORKS = [ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("198.51.100.0/24")]


def rule(event):
    if event.get("eventName") != "GetObject":
        return False
    if event.deep_get("requestParameters", "bucketName") not in SENSITIVE_BUCKETS:
        return False
    try:
        address = ipaddress.ip_address(event.get("sourceIPAddress", ""))
    except ValueError:
        return False  # an AWS service name
    return not any(address in network for network in CORPORATE_NETWORKS)


def title(event):
    return (
        f"[{actor_name(event)}] read from [{event.deep_get('requestParameters', 'bucketName')}] "
        f"from [{event.get('sourceIPAddress')}]"
    )


def dedup(event):
    return actor_name(event)


def alert_context(event):
    return aws_rule_context(event)
