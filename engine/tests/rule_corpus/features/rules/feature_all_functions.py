import corvid_feature_helpers


def rule(event):
    return corvid_feature_helpers.is_admin(event.udm("actor_user")) and event.get("action") == "delete"


def title(event):
    return f"Admin {event.udm('actor_user')} deleted something"


def dedup(event):
    return event.udm("actor_user")


def severity(event):
    return event.get("level", "DEFAULT")


def alert_context(event):
    return {"actor": corvid_feature_helpers.describe_actor(event), "event": event}


def description(event):
    return f"{event.udm('actor_user')} ran {event.get('action')}"


def reference(event):
    return "https://example.com/" + event.get("action")


def runbook(event):
    return "Call " + event.udm("actor_user")


def destinations(event):
    return ["corpus-slack", "corpus-pager"]


def unique(event):
    return event.get("action")
