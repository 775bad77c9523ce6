"""Looking Inside's Dash dashboard. `app.server` is the WSGI entry (settings from LOOKINSIDE_* variables)."""
import functools
import os
import threading


@functools.lru_cache(maxsize=1)
def _default_app():
    from models.config import Settings

    from .main import create_app, warm
    offline = os.environ.get("LOOKINSIDE_OFFLINE", "") not in ("", "0", "false")
    app = create_app(Settings.resolve(offline=offline))
    # Each gunicorn worker builds its own app: load the ready networks and their images in the background.
    threading.Thread(target=warm, args=(app,), daemon=True, name="warm").start()
    return app


def __getattr__(name):
    # Built on first use, so `python -m app` can apply its flags before any app exists.
    if name == "server":
        return _default_app().server
    raise AttributeError(name)
