"""`celery -A app.worker worker --concurrency 1`: runs the dashboard's training jobs, here or on any machine.

Needs the same REDIS_URL, LOOKINSIDE_DATA_DIR, LOOKINSIDE_MODEL_DIR and LOOKINSIDE_JOBS_DIR as the web
workers: the queue's table lives in the jobs dir, so that dir is shared like the model dir.
"""
from pathlib import Path

from .jobs import Queue, celery_app

celery = celery_app()


@celery.task(name="lookinside.run_job")
def run_job(folder: str, job_id: str) -> None:
    from .runner import run  # torch and the models load on the first job, not at worker start
    run(Queue(Path(folder)), job_id)
