"""Helpers shared by the CloudTrail detections of the rules benchmark."""


def is_success(event):
    """True unless CloudTrail recorded an error for the call."""
    return not event.get("errorCode")


def actor_name(event):
    """A short name for whoever made the call."""
    kind = event.deep_get("userIdentity", "type")
    if kind == "Root":
        return "root"
    if kind == "AssumedRole":
        role = event.deep_get("userIdentity", "sessionContext", "sessionIssuer", "userName")
        if role:
            return role
    if kind == "AWSService":
        return event.deep_get("userIdentity", "invokedBy", default="<AWS_SERVICE>")
    name = event.deep_get("userIdentity", "userName")
    if name:
        return name
    return event.deep_get("userIdentity", "principalId", default="<UNKNOWN_ACTOR>")


def aws_rule_context(event):
    """The alert context every CloudTrail detection shares."""
    return {
        "eventName": event.get("eventName", "<MISSING>"),
        "eventSource": event.get("eventSource", "<MISSING>"),
        "awsRegion": event.get("awsRegion", "<MISSING>"),
        "recipientAccountId": event.get("recipientAccountId", "<MISSING>"),
        "sourceIPAddress": event.get("sourceIPAddress", "<MISSING>"),
        "userAgent": event.get("userAgent", "<MISSING>"),
        "actor": actor_name(event),
        "actorArn": event.deep_get("userIdentity", "arn", default="<MISSING>"),
    }
