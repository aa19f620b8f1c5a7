def policy(resource):
    return resource["ok"]


def title(resource):
    raise RuntimeError("no title")
