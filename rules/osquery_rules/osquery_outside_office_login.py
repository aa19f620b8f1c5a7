"""A login to a host from an IP address outside the office network.

osquery's `logged_in_users` table lists interactive sessions; in a differential result an
`added` row is a new session, and `columns.host` is where it came from: an IP address for
remote logins, something else (empty, a display such as `:0`, a tmux id) for local ones.
"""

import ipaddress

OFFICE_NETWORKS = [ipaddress.ip_network("192.0.1.0/24")]


def source_ip(event):
    """The session's source address, or None when `columns.host` is not an IP address."""
    host = event.deep_get("columns", "host", default="")
    if not isinstance(host, str):
        return None
    try:
        return ipaddress.ip_address(host.strip())
    except ValueError:
        return None


def rule(event):
    if "logged_in_users" not in (event.get("name") or ""):
        return False
    if event.get("action") != "added":
        return False
    address = source_ip(event)
    if address is None:
        return False
    return not any(address in network for network in OFFICE_NETWORKS)


def user(event):
    return event.deep_get("columns", "user", default="<UNKNOWN_USER>")


def title(event):
    return (
        f"User [{user(event)}] logged in to [{event.get('hostIdentifier')}] "
        f"from non-office IP [{source_ip(event)}]"
    )


def dedup(event):
    return user(event)


def alert_context(event):
    return {
        "user": user(event),
        "host": event.get("hostIdentifier"),
        "source_ip": str(source_ip(event)),
    }
