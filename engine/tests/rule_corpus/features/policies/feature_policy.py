def policy(resource):
    assert isinstance(resource, dict)
    block = resource.get("PublicAccessBlockConfiguration") or {}
    return bool(block.get("BlockPublicAcls"))


def title(resource):
    return f"Bucket {resource['Name']} is public"


def severity(resource):
    return "critical"
