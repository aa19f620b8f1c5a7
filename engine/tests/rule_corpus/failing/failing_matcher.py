def rule(event):
    value = event.get("value")
    if value == 1:
        return 1
    if value == 2:
        return event["missing"]
    return value >= 3


def destinations(event):
    if event.get("value") == 3:
        return ["corpus-a", "corpus-a"]
    return ["corpus-a"]
