"""Looking Inside's Dash dashboard. `app.server` is the WSGI entry (settings from LOOKINSIDE_* variables)."""
import functools
import os
import threading


@functools.lru_cache(maxsize=1)
def _default_app():
    from models.config import Settings

    from .main import create_app
    offline = os.environ.get("LOOKINSIDE_OFFLINE", "") not in ("", "0", "false")
    return create_app(Settings.resolve(offline=offline))


@functools.lru_cache(maxsize=1)
def _served_app():
    """The app a web server process serves: each gunicorn worker warms its own up in the background.

    A Celery worker builds the app only to register its background callbacks (app/worker.py), and
    has no use for the heatmaps and thumbnails a warm-up prepares.
    """
    from .main import warm
    app = _default_app()
    threading.Thread(target=warm, args=(app,), daemon=True, name="warm").start()
    return app


def __getattr__(name):
    # Built on first use, so `python -m app` can apply its flags before any app exists.
    if name == "server":
        return _served_app().server
    raise AttributeError(name)
