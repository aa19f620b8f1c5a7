def rule(event):
    return event.get("signal") is True


def alert_context(event):
    return {"signal": event.get("signal")}
