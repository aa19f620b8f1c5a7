"""An API call was denied; many in a row suggest someone probing what stolen credentials allow."""

from aws_bench_helpers import actor_name, aws_rule_context

DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "Client.UnauthorizedOperation"}


def rule(event):
    return event.get("errorCode") in DENIED


def title(event):
    return f"Denied API calls by [{actor_name(event)}]"


def dedup(event):
    return actor_name(event)


def alert_context(event):
    context = aws_rule_context(event)
    context["errorCode"] = event.get("errorCode")
    return context
