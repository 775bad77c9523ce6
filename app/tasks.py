"""Every kind of job the queue runs, registered once: its name, the work it does, and what its progress bar says
before the job reports anything. The runner (app/runner.py) looks a job's mode up here; the pages ask for a mode
by name and poll it through one reader (app/progress.py). No Dash here, nor in the modules that do the work.

- train, retrain, run: make a network ready, train it again in place (the admin), or a visitor's run beside it
  (app/training.py);
- ladder: the width ladder's missing networks of a dataset, one after the other (app/training.py);
- features, map, off: a network's layers over both splits, a layer's UMAP, the test split with first-layer
  units switched off; unit: a convnet unit's activations and visualisation; influence: TracIn for one test
  image (app/background.py).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable

from models.config import Settings
from models.errors import LookInsideError
from models.zoo import Zoo

from . import background, training
from .jobs import Job


@dataclass(frozen=True)
class Work:
    """What a job's code is handed: where data and networks are, progress and live frames to report, and the
    event that asks it to stop."""
    settings: Settings
    zoo: Zoo
    report: Callable[..., None]  # report(progress=None, frame=None)
    cancel: threading.Event


@dataclass(frozen=True)
class Mode:
    name: str
    run: Callable[[Work, Job], dict]  # does the work; returns what the page learns when the job is done
    starting: str  # the progress bar's words before the job's first report


MODES: dict[str, Mode] = {}


def register(mode: Mode) -> Mode:
    MODES[mode.name] = mode
    return mode


for _mode in (
        Mode("train", training.train, "Preparing the network: starting…"),
        Mode("retrain", training.train, "Preparing the network: starting…"),
        Mode("run", training.train, "Preparing a new run: starting…"),
        Mode("ladder", training.climb, "Starting…"),
        Mode("features", background.features, "The network's layers: starting…"),
        Mode("map", background.umap_map, "UMAP: starting…"),
        Mode("off", background.switch_off, "Units switched off: starting…"),
        Mode("unit", background.unit, "What the unit responds to: starting…"),
        Mode("influence", background.influence_job, "Which training images taught it: starting…"),
        Mode("fool", background.fool_job, "The smallest change that fools it: starting…")):
    register(_mode)


def get(name: str) -> Mode:
    found = MODES.get(name)
    if found is None:
        raise LookInsideError(f"This server does not run {str(name)[:20]!r} jobs.")
    return found
