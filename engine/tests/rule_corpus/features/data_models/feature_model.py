def get_source_ip(event):
    """The client address, wherever the log put it."""
    return event.deep_get("client", "ip") or event.get("sourceIPAddress")
