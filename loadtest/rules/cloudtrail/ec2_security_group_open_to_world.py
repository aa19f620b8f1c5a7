"""A security group rule now accepts traffic from 0.0.0.0/0 or ::/0."""

from aws_bench_helpers import actor_name, aws_rule_context, is_success

WORLD = ("0.0.0.0/0", "::/0")


def open_permissions(event):
    """(protocol, from port, to port) of each permission open to the whole internet."""
    found = []
    permissions = event.deep_get("requestParameters", "ipPermissions", "items", default=[])
    for permission in permissions:
        ranges = [r.get("cidrIp") for r in (permission.get("ipRanges") or {}).get("items", [])]
        ranges += [r.get("cidrIpv6") for r in (permission.get("ipv6Ranges") or {}).get("items", [])]
        if any(cidr in WORLD for cidr in ranges):
            found.append(
                (permission.get("ipProtocol"), permission.get("fromPort"), permission.get("toPort"))
            )
    return found


def rule(event):
    if event.get("eventName") != "AuthorizeSecurityGroupIngress" or not is_success(event):
        return False
    return bool(open_permissions(event))


def title(event):
    return (
        f"Security group [{event.deep_get('requestParameters', 'groupId')}] opened to the "
        f"internet by [{actor_name(event)}]"
    )


def dedup(event):
    return event.deep_get("requestParameters", "groupId", default="<UNKNOWN_GROUP>")


def alert_context(event):
    context = aws_rule_context(event)
    context["open"] = [list(p) for p in open_permissions(event)]
    return context
