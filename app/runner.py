"""`python -m app.runner JOBS_DIR JOB_ID`: run one queued job in a fresh process, and log it.

Started by the queue (app/jobs.py) for each job it claims, or called by a Celery worker's task. It holds
the job's lock for its whole life, reports progress and a live frame (the confusion matrix and the
weights at each snapshot) into the queue, and hands the next queued job a slot when it ends.
"""
from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from pathlib import Path

from models.config import Settings
from models.errors import LookInsideError, TrainingCancelled
from models.zoo import Zoo

from . import log_to_stderr, tasks
from .jobs import Job, Queue

log = logging.getLogger("lookinside")

NICE = 10  # the web workers answer clicks first; training takes what CPU is left


def run(queue: Queue, job_id: str, own_process: bool = False) -> None:
    """Run the job if it is this process's to run; record how it ended. Never raises for a job's failure.

    In a process of its own (`python -m app.runner`), the job's slot is handed on only once the process has
    exited (the launcher pumps then); in a Celery worker, which lives on, at the job's end."""
    job = queue.get(job_id)
    if job is None or job.state not in ("running", "cancelling"):
        return
    with queue.hold(job_id, until_exit=own_process):
        started = time.monotonic()
        log.info("training job %s started: %s/%s (%s, asked by %s, pid %d)", job_id[:8], job.dataset, job.network,
                 job.mode, job.who, os.getpid())
        try:
            result = work(queue, job)
        except TrainingCancelled:
            queue.end(job_id, "cancelled", "Training was stopped.")
            outcome = "cancelled"
        except LookInsideError as e:
            queue.end(job_id, "failed", e.brief)
            outcome = f"failed: {e}"
        except Exception:  # a bug or a resource problem: logged with its traceback, told in one sentence
            log.exception("training job %s failed", job_id[:8])
            queue.end(job_id, "failed", "Training failed on the server; the error was logged.")
            outcome = "failed"
        else:
            queue.end(job_id, "done", result=result)
            outcome = "done"
        log.info("training job %s ended: %s/%s %s after %.1fs (%s, asked by %s)", job_id[:8], job.dataset,
                 job.network, outcome, time.monotonic() - started, job.mode, job.who)
    if not own_process:
        queue.pump()  # the next queued job gets this one's slot, even if nobody is watching


def work(queue: Queue, job: Job) -> dict:
    """Do the job its mode names (app/tasks.py), reporting into the queue; returns what the page learns."""
    shipped = job.settings.get("shipped_dir")
    settings = Settings(data_dir=Path(job.settings["data_dir"]), model_dir=Path(job.settings["model_dir"]),
                        offline=bool(job.settings["offline"]), device=str(job.settings["device"]),
                        shipped_dir=Path(shipped) if shipped else None)
    cancel = threading.Event()

    def report(progress=None, frame=None):
        if queue.report(job.id, progress, frame) == "cancelling":
            cancel.set()
    return tasks.get(job.mode).run(tasks.Work(settings, Zoo(settings), report, cancel), job)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        print("usage: python -m app.runner JOBS_DIR JOB_ID", file=sys.stderr)
        return 2
    log_to_stderr()  # into the server's log, which this process shares
    try:
        os.nice(NICE)
    except OSError:
        pass
    run(Queue(Path(argv[0])), argv[1], own_process=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
