def rule(event):
    return event.get("count", 0) > 10 and event.udm("actor_user", default="raw") == "raw"
