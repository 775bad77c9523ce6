"""One reader of a job's progress for every card that polls one (training, the ladder, the maps, units switched
off): the job the page's handle names, moved on if its process died, and what its bar and note say. The page's
side of the queue: the job modules themselves (app/tasks.py) know nothing of Dash."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from dash import no_update

from .jobs import Job
from .tasks import MODES


@dataclass(frozen=True)
class Reading:
    """One poll of a job. `job` is None when the handle names no job of the card's modes."""
    job: Optional[Job]
    step: str = "0"
    total: str = "1"
    label: Optional[str] = None  # what the bar says while the job is active; why it failed once it ended

    @property
    def active(self) -> bool:
        return self.job is not None and self.job.active

    @property
    def done(self) -> bool:
        return self.job is not None and self.job.state == "done"


def read(service, handle, modes, queued="Waiting for the server's queue: {ahead} job(s) ahead.") -> Reading:
    """How the job a page's handle names stands, for a card that shows jobs of `modes`. `queued` is what a
    waiting job's bar says: a text with {ahead}, or a function of the job and the jobs ahead of it."""
    job = service.queue.get(handle.get("id")) if isinstance(handle, dict) else None
    if job is None or job.mode not in modes:
        return Reading(None)
    if job.active:
        service.queue.pump()  # a dead job's slot, and the queue behind it, move on
        job = service.queue.get(job.id) or job
    if not job.active:
        return Reading(job, "1", "1", None if job.state == "done" else job.message)
    progress = job.progress or {}
    label = progress.get("label") or MODES[job.mode].starting
    if job.state == "queued":
        ahead = service.queue.ahead_of(job)
        label = queued(job, ahead) if callable(queued) else queued.format(ahead=ahead)
    elif job.state == "cancelling":
        label = "Stopping…"
    return Reading(job, str(progress.get("step", 0)), str(progress.get("total", 1)), label)


def bar(reading: Reading, hidden_class: str = "train-progress hidden", shown_class: str = "train-progress") -> tuple:
    """A card's progress outputs: (value, max, class, note, poll disabled, done mark: the job's id once it ended)."""
    if reading.job is None:
        return no_update, no_update, hidden_class, no_update, True, no_update
    if not reading.active:
        return "1", "1", hidden_class, reading.label, True, reading.job.id
    return reading.step, reading.total, shown_class, reading.label, False, no_update
