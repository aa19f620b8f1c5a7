def title(event):
    return "t"
