"""Dashboard panels: each module offers `layout()` and `register(app, service)`."""
