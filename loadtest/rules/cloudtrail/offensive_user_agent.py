"""An API call was made with a user agent of a penetration-testing distribution or tool."""

from aws_bench_helpers import actor_name, aws_rule_context

MARKERS = ("kali", "parrot", "pentoo", "pacu", "cloudgoat", "scoutsuite", "prowler")


def rule(event):
    agent = (event.get("userAgent") or "").lower()
    return any(marker in agent for marker in MARKERS)


def title(event):
    return f"[{actor_name(event)}] used an offensive tool's user agent"


def dedup(event):
    return actor_name(event)


def alert_context(event):
    return aws_rule_context(event)
