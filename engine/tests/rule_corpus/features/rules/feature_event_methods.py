def rule(event):
    if event.udm("actor_user") != "bob":
        return False
    checks = [
        event.udm("source_ip") == "203.0.113.9",
        event.udm("first_item") == "a1",
        event.udm("session_user") == "carol",
        event.udm("user", "email") == "bob@example.com",
        event.udm("not_mapped", default="d") == "d",
        event.deep_walk("items", "id") == ["a1", "a2"],
        event.deep_walk("items", "id", return_val="first") == "a1",
        event.deep_walk("items", "id", return_val="last") == "a2",
        event.deep_walk("items", "nope", default="none") == "none",
        event.deep_walk("context", "session", "sessionUser") == "carol",
        event.lookup("users", "bob") == {"team": "red"},
        event.lookup("users", "nobody") is None,
        event.event_time_epoch() == 1704164645,
        event.deep_get("ACTOR", "NAME") == "bob",
        "actor" in event,
        sorted(event.to_dict()["actor"]) == ["name"],
    ]
    try:
        event.udm("item_ids")
        checks.append(False)
    except Exception:  # two matches for one mapping
        checks.append(True)
    return all(checks)


def title(event):
    return f"{event.udm('actor_user')} from {event.udm('source_ip')}"
