def allowlist_name():
    return "alice"


def enabled():
    return True


def rule(event):
    if not enabled():
        return False
    return event.deep_get("actor", "name") != allowlist_name()


def title(event):
    return f"{event.deep_get('actor', 'name')} is not {allowlist_name()}"
