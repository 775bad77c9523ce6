"""`python -m app.runner JOBS_DIR JOB_ID`: run one queued training job in a fresh process, and log it.

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

import plotly.io

from models import datasets, kinds, ladder
from models.config import Settings
from models.errors import LookInsideError, TrainingCancelled
from models.evaluate import Evaluation
from models.train import predict_proba
from models.zoo import Zoo, disk_bound, kind_of

from . import background, figures, log_to_stderr
from .images import colorize, png_data_uri
from .jobs import Job, Queue
from .state import READY, network_label, state

log = logging.getLogger("lookinside")

NICE = 10  # the web workers answer clicks first; training takes what CPU is left
REPORT_EVERY = 0.25  # seconds between progress writes
MAX_RUNS = int(os.environ.get("LOOKINSIDE_MAX_RUNS", "50"))  # visitors' runs kept per dataset
MAX_SHAPES = int(os.environ.get("LOOKINSIDE_MAX_BUILT", "30"))  # networks built in the page kept per dataset


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
            result = train(queue, job)
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


def train(queue: Queue, job: Job) -> dict:
    """Make the job's network: train it (again, or as a new run) and evaluate it; returns the page state."""
    shipped = job.settings.get("shipped_dir")
    settings = Settings(data_dir=Path(job.settings["data_dir"]), model_dir=Path(job.settings["model_dir"]),
                        offline=bool(job.settings["offline"]), device=str(job.settings["device"]),
                        shipped_dir=Path(shipped) if shipped else None)
    zoo, cancel, last = Zoo(settings), threading.Event(), [0.0]

    def report(progress=None, frame=None):
        if queue.report(job.id, progress, frame) == "cancelling":
            cancel.set()

    if job.mode == "ladder":
        return climb(zoo, job.dataset, report, cancel)
    if job.mode in background.MODES:
        return background.run(settings, zoo, job, report, cancel)
    title = f"{datasets.get_spec(job.dataset).title} / {network_label(job.network)}"

    def on_progress(p):
        now = time.monotonic()
        if now - last[0] >= REPORT_EVERY or p.step == p.total_steps:
            last[0] = now
            report({"step": p.step, "total": p.total_steps,
                    "label": f"Training {title}: epoch {p.epoch}/{p.epochs}, loss {p.loss:.3f}, "
                             f"training accuracy {100 * p.accuracy:.1f}%"})

    def on_snapshot(snap, model, norm):
        report(frame=live_frame(settings, job.dataset, kind_of(job.network), snap, model, norm))

    report({"step": 0, "total": 1, "label": f"Preparing {title}: loading data…"})
    if job.mode == "train":
        ev = zoo.evaluation(job.dataset, job.network, on_progress=on_progress, cancel=cancel, on_snapshot=on_snapshot)
        if job.network not in kinds.KINDS:  # a network built in the page: the least recently used beyond the bound go
            zoo.prune_shapes(job.dataset, keep=MAX_SHAPES, protect=ladder.networks())
    else:  # "retrain" replaces the network; "run" writes a new one beside it, under its own id
        ckpt = zoo.retrain(job.dataset, job.network, on_progress=on_progress, cancel=cancel, on_snapshot=on_snapshot)
        ev = zoo.evaluate(ckpt)
        if job.mode == "run":
            zoo.prune_runs(job.dataset, keep=MAX_RUNS)
    zoo.prune_disk(job.dataset, disk_bound(os.environ.get("LOOKINSIDE_MAX_DISK")), protect=ladder.networks())
    labels = zoo.timeline_labels(zoo.load(job.dataset, job.network))
    return state(job.dataset, job.network, READY, checkpoint=ev.checkpoint_id, timeline=labels)


def climb(zoo: Zoo, dataset: str, report, cancel: threading.Event) -> dict:
    """Train the ladder's missing networks of a dataset, one after the other (models.ladder)."""
    todo = ladder.missing(zoo, dataset)
    title, last = datasets.get_spec(dataset).title, [0.0]
    for i, network in enumerate(todo):
        def on_progress(p, i=i, network=network):
            now = time.monotonic()
            if now - last[0] >= REPORT_EVERY or p.step == p.total_steps:
                last[0] = now
                report({"step": round(1000 * (i + p.fraction)), "total": 1000 * len(todo),
                        "label": f"{title}, network {i + 1} of {len(todo)}: {network_label(network)}, "
                                 f"epoch {p.epoch}/{p.epochs}"})
        report({"step": 1000 * i, "total": 1000 * len(todo),
                "label": f"{title}, network {i + 1} of {len(todo)}: {network_label(network)}, starting…"})
        zoo.evaluation(dataset, network, on_progress=on_progress, cancel=cancel)
    return {"dataset": dataset, "trained": todo}


def live_frame(settings: Settings, dataset: str, name: str, snap, model, norm) -> str:
    """The confusion heatmap and weight images of a network mid-training, as JSON for the live view."""
    kind = kinds.get(name)
    test = datasets.load(dataset, False, settings)  # the copy training already loaded: never a second one
    n = kind.live_images or len(test)
    probs = predict_proba(model, test.images[:n], norm, settings.device)
    ev = Evaluation(dataset, name, test.classes, "live", test.labels[:n].numpy(), probs)
    fig = figures.confusion_figure(ev.confusion, test.classes)
    fig.update_layout(height=330, title=dict(text=f"{snap.label}: {100 * ev.accuracy:.1f}% of {n:,} test images",
                                             font=dict(size=13), x=0, xanchor="left"),
                      margin=dict(l=10, r=10, t=30, b=10))
    tiles = kind.first_layer(model, test.classes)
    if tiles is None:  # a kind whose weights are not images: the heatmap alone
        return json.dumps({"figure": json.loads(plotly.io.to_json(fig)), "caption": snap.label, "images": [],
                           "labels": []})
    colormap = "rgb" if tiles.colour and tiles.images.shape[1] == 3 else "diverging"
    return json.dumps({"figure": json.loads(plotly.io.to_json(fig)), "caption": f"{snap.label}: {tiles.caption}",
                       "images": [png_data_uri(img) for img in colorize(tiles.images[:32], colormap,
                                                                        per_tile=tiles.per_tile)],
                       "labels": list(tiles.labels[:32])})


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
