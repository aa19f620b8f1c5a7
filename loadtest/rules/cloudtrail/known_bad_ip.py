"""An API call came from an address on the threat-intelligence block list."""

from aws_bench_helpers import actor_name, aws_rule_context

# Addresses from threat intelligence (documentation ranges stand in for real ones).
BLOCK_LIST = {
    "203.0.113.66",
    "203.0.113.67",
    "203.0.113.99",
    "198.51.100.250",
    "192.0.2.200",
}


def rule(event):
    return event.get("sourceIPAddress") in BLOCK_LIST


def title(event):
    return f"[{actor_name(event)}] called AWS from block-listed [{event.get('sourceIPAddress')}]"


def dedup(event):
    return event.get("sourceIPAddress")


def alert_context(event):
    return aws_rule_context(event)
