import corvid_no_such_helper


def rule(event):
    return True
