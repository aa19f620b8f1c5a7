"""An EKS cluster's API endpoint was made reachable from any address."""

from aws_bench_helpers import actor_name, aws_rule_context, is_success


def vpc_config(event):
    return event.deep_get("requestParameters", "resourcesVpcConfig", default={}) or {}


def rule(event):
    if event.get("eventName") not in ("CreateCluster", "UpdateClusterConfig") or not is_success(event):
        return False
    if event.get("eventSource") != "eks.amazonaws.com":
        return False
    config = vpc_config(event)
    if not config.get("endpointPublicAccess"):
        return False
    cidrs = config.get("publicAccessCidrs") or ["0.0.0.0/0"]
    return "0.0.0.0/0" in cidrs


def title(event):
    return f"EKS cluster [{event.deep_get('requestParameters', 'name')}] API open to the internet"


def alert_context(event):
    return aws_rule_context(event)
