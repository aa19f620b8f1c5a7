"""A VPC, its peering or its attributes changed."""

from aws_bench_helpers import actor_name, aws_rule_context, is_success

EVENT_NAMES = {"AcceptVpcPeeringConnection", "AttachClassicLinkVpc", "CreateVpc", "CreateVpcPeeringConnection", "DeleteVpc", "DeleteVpcPeeringConnection", "DisableVpcClassicLink", "EnableVpcClassicLink", "ModifyVpcAttribute", "RejectVpcPeeringConnection"}


def rule(event):
    if event.get("eventSource") != "ec2.amazonaws.com":
        return False
    if event.get("eventName") not in EVENT_NAMES:
        return False
    if not is_success(event):
        return False
    return True


def title(event):
    return f"VPC changed with [{event.get('eventName')}] by [{actor_name(event)}]"


def alert_context(event):
    return aws_rule_context(event)
