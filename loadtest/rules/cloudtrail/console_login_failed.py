"""A console sign-in failed; several in a short time suggest password guessing."""

from aws_bench_helpers import actor_name, aws_rule_context


def rule(event):
    return (
        event.get("eventName") == "ConsoleLogin"
        and event.deep_get("responseElements", "ConsoleLogin") == "Failure"
    )


def title(event):
    return f"Failed console logins for [{actor_name(event)}]"


def dedup(event):
    return actor_name(event)


def alert_context(event):
    context = aws_rule_context(event)
    context["errorMessage"] = event.get("errorMessage", "")
    return context
