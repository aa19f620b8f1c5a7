def rule(event):
    return not event.get("quiet", False)


def title(event):
    if event.get("case") == "title":
        raise ValueError("no title")
    return "t"


def severity(event):
    return "urgent" if event.get("case") == "severity" else "low"


def unique(event):
    return None if event.get("case") == "unique" else "u"


def alert_context(event):
    return [1] if event.get("case") == "context" else {}


def dedup(event):
    return 7 if event.get("case") == "dedup" else "d"


def destinations(event):
    return "slack" if event.get("case") == "destinations" else None


def runbook(event):
    if event.get("case") == "runbook":
        return event["missing"]
    return "r"
