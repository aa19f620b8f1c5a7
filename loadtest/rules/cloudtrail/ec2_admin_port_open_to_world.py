"""SSH (22) or RDP (3389) opened to the whole internet."""

from aws_bench_helpers import actor_name, aws_rule_context, is_success

ADMIN_PORTS = (22, 3389)

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


def exposes_admin_port(permission):
    protocol, low, high = permission
    if protocol in ("-1", "all"):
        return True
    if low is None or high is None:
        return False
    return any(low <= port <= high for port in ADMIN_PORTS)


def rule(event):
    if event.get("eventName") != "AuthorizeSecurityGroupIngress" or not is_success(event):
        return False
    return any(exposes_admin_port(p) for p in open_permissions(event))


def title(event):
    return (
        f"Admin port opened to the internet on [{event.deep_get('requestParameters', 'groupId')}]"
    )


def dedup(event):
    return event.deep_get("requestParameters", "groupId", default="<UNKNOWN_GROUP>")


def alert_context(event):
    return aws_rule_context(event)
