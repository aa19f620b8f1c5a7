def rule(event):
    return event.get("route") != "off"


def destinations(event):
    route = event.get("route")
    if route == "none":
        return []
    if route == "two":
        return ["corpus-pager", "corpus-slack"]
    if route == "many":
        return [f"corpus-{n}" for n in range(12)]
    return None
