"""Looking Inside's Dash dashboard. `app.server` is the WSGI entry (settings from LOOKINSIDE_* variables)."""
import functools
import logging
import os
import sys
import threading

# gunicorn's own format, so the web workers' and the jobs' lines read like the master's in one log.
LOG_FORMAT = "%(asctime)s [%(process)d] [%(levelname)s] %(message)s"
LOG_DATES = "[%Y-%m-%d %H:%M:%S %z]"


def log_to_stderr() -> None:
    """Send the dashboard's log ("lookinside": every job queued, refused, started, ended and pruned) to
    stderr at INFO with level and time, as gunicorn does its own; once per process."""
    log = logging.getLogger("lookinside")
    if not any(getattr(h, "_lookinside", False) for h in log.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(LOG_FORMAT, LOG_DATES))
        handler._lookinside = True
        log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False


@functools.lru_cache(maxsize=1)
def _default_app():
    from models.config import Settings

    from .main import create_app
    offline = os.environ.get("LOOKINSIDE_OFFLINE", "") not in ("", "0", "false")
    replay = os.environ.get("LOOKINSIDE_REPLAY", "1") not in ("0", "false")  # off only to measure it
    return create_app(Settings.resolve(offline=offline), replay=replay)


@functools.lru_cache(maxsize=1)
def _served_app():
    """The app a web server process serves, warmed up.

    Under gunicorn.conf.py (preload) the master warms it up before it forks, on one torch thread, so
    every worker shares that memory and starts warm. Without preload each worker warms its own up
    in the background.
    """
    from .main import warm
    app = _default_app()
    if os.environ.get("LOOKINSIDE_PRELOAD") == "1":
        import torch
        torch.set_num_threads(1)  # no OpenMP pool in the master: one would not survive the fork
        warm(app, shared=True)
    else:
        threading.Thread(target=warm, args=(app,), daemon=True, name="warm").start()
    return app


def __getattr__(name):
    # Built on first use, so `python -m app` can apply its flags before any app exists.
    if name == "server":
        return _served_app().server
    raise AttributeError(name)
