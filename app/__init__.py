"""Looking Inside's Dash dashboard. `app.server` is the WSGI entry (settings from LOOKINSIDE_* variables)."""
import functools
import os


@functools.lru_cache(maxsize=1)
def _default_app():
    from models.config import Settings

    from .main import create_app
    offline = os.environ.get("LOOKINSIDE_OFFLINE", "") not in ("", "0", "false")
    return create_app(Settings.resolve(offline=offline))


def __getattr__(name):
    # Built on first use, so `python -m app` can apply its flags before any app exists.
    if name == "server":
        return _default_app().server
    raise AttributeError(name)
