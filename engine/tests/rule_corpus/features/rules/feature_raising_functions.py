def rule(event):
    return event.get("kind") == "loud"


def title(event):
    return "User " + event["user"]


def dedup(event):
    return event["user"].upper()


def alert_context(event):
    return {"user": event["user"]}


def description(event):
    return {"loud": "noisy"}[event["kind"]]
