"""Global helpers of the feature corpus, imported as `corvid_feature_helpers`."""

ADMINS = {"root", "admin"}


def is_admin(name):
    return name in ADMINS


def describe_actor(event):
    return f"{event.udm('actor_user', default='<unknown>')}@{event.udm('source_ip', default='?')}"
