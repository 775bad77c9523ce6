"""`celery -A app.worker worker`: runs the dashboard's training jobs, here or on any machine sharing the dirs.

Needs the same REDIS_URL, LOOKINSIDE_DATA_DIR and LOOKINSIDE_MODEL_DIR as the web workers.
"""
from . import _default_app
from .jobs import celery_app

celery = celery_app()
_default_app()  # building the Dash app registers its background callbacks as this worker's tasks
