"""Where training jobs run: a DiskCache-backed process on this machine, or Celery workers when REDIS_URL is set."""
from __future__ import annotations

import functools
import os
import tempfile
from pathlib import Path

REDIS_ENV = "REDIS_URL"


def make_manager():
    """The Dash background-callback manager for this deployment."""
    if os.environ.get(REDIS_ENV):
        from dash import CeleryManager
        return CeleryManager(celery_app())
    import diskcache
    from dash import DiskcacheManager
    jobs = Path(os.environ.get("LOOKINSIDE_JOBS_DIR") or Path(tempfile.gettempdir()) / "lookinside-jobs")
    return DiskcacheManager(diskcache.Cache(str(jobs)))


@functools.lru_cache(maxsize=1)
def celery_app():
    """One Celery app per process, with Redis as broker and result backend."""
    from celery import Celery
    url = os.environ[REDIS_ENV]
    app = Celery("lookinside", broker=url, backend=url)
    # One training job at a time per worker process, taken only when it can start.
    app.conf.update(worker_prefetch_multiplier=1, task_acks_late=True, result_expires=3600,
                    broker_connection_retry_on_startup=True)
    return app
