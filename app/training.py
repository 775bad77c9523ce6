"""The training jobs (app/tasks.py registers them): make a network ready, train it again or as a visitor's run,
with progress and a live frame (the confusion matrix and the weights at each snapshot), and the width ladder."""
from __future__ import annotations

import json
import os
import time

import plotly.io

from models import datasets, kinds, ladder
from models.config import Settings
from models.errors import DataError
from models.evaluate import Evaluation
from models.train import predict_proba
from models.zoo import Zoo, disk_bound, kind_of

from . import figures
from .images import colorize, png_data_uri
from .jobs import Job
from .state import READY, network_label, state

REPORT_EVERY = 0.25  # seconds between progress writes
MAX_RUNS = int(os.environ.get("LOOKINSIDE_MAX_RUNS", "50"))  # visitors' runs kept per dataset
MAX_SHAPES = int(os.environ.get("LOOKINSIDE_MAX_BUILT", "30"))  # networks built in the page kept per dataset


def train(work, job: Job) -> dict:
    """"train", "retrain" or "run": make the job's network (train it, again, or as a new run) and evaluate it;
    returns the page state."""
    settings, zoo, report, cancel, last = work.settings, work.zoo, work.report, work.cancel, [0.0]
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
    try:
        datasets.load(job.dataset, False, settings)  # downloaded here when allowed and missing
    except DataError as e:
        if not settings.offline:
            datasets.note_failed_download(settings.model_dir, job.dataset, e.brief)
        raise
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


def climb(work, job: Job) -> dict:
    """"ladder": train the ladder's missing networks of a dataset, one after the other (models.ladder)."""
    zoo, dataset, report, cancel = work.zoo, job.dataset, work.report, work.cancel
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


