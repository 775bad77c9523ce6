"""Dashboard panels: each module offers `layout()` and `register(app, service)`."""
from dash import ctx


def triggered_id():
    """The id that triggered the running callback, or None outside one (a test calling it directly)."""
    try:
        return ctx.triggered_id
    except Exception:  # no callback context at all
        return None


def triggered_ids() -> set:
    """Every component id among the running callback's triggers (empty outside a callback)."""
    try:
        return {t.split(".")[0] for t in ctx.triggered_prop_ids}
    except Exception:
        return set()
