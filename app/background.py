"""Work too long for a click, run in the training queue: a layer's UMAP map ("map"), a convnet's layers over
the test and training images ("features"), and its test split with first-layer filters switched off ("off").
Each job writes files for one checkpoint (app/representations.py reads them)."""
from __future__ import annotations

import threading
from typing import Optional

import numpy as np
import torch
from dash import no_update

from models import datasets, layers
from models.config import Settings
from models.errors import LookInsideError
from models.zoo import Zoo

from .access import address
from .jobs import Refused
from .representations import train_means, result_path, units_name, write

MODES = ("features", "map", "off")
UMAP_NEIGHBOURS, UMAP_MIN_DIST = 15, 0.1


def target(network: str, checkpoint_id: str, detail: str) -> str:
    """What identical requests join on: the network, its checkpoint and the layer or units."""
    return f"{network}|{checkpoint_id[:12]}|{detail}"


def request(service, view, mode: str, detail: str, visitor: str, admin: bool) -> dict:
    """Queue (or join) the job; its handle for the page to poll, or {"error": sentence}."""
    ckpt = view.checkpoint
    try:
        job, _ = service.queue.submit(ckpt.dataset, target(ckpt.name, ckpt.id, detail), mode, service.job_settings(),
                                      visitor=visitor, who="admin" if admin else "visitor", address=address())
    except Refused as e:
        return {"error": str(e)}
    return job.handle()


def run(settings: Settings, zoo: Zoo, job, report, cancel: threading.Event) -> dict:
    """Run a "features", "map" or "off" job; returns what it made. LookInsideError (one sentence) when it cannot."""
    network, stamp, detail = job.target.split("|")  # see `target`
    ckpt = zoo.load(job.dataset, network)
    if ckpt.id[:12] != stamp:
        raise LookInsideError("The network was retrained since this was asked for; ask again.")
    test = datasets.load(job.dataset, False, settings)

    def path(what, detail):
        return result_path(settings.model_dir, job.dataset, network, ckpt.id, what, detail)
    if job.mode == "features":
        return features(settings, ckpt, test, path, report, cancel)
    if job.mode == "map":
        report({"step": 0, "total": 3, "label": "UMAP: the layer's features…"})
        saved = path("features", detail)
        if detail == layers.INPUT:
            x = layers.pixels(test.images).numpy()
        elif saved.exists():  # a convnet's, from its features job
            x = np.load(saved, allow_pickle=False)
        else:
            x = layers.features(ckpt.model, test.images, ckpt.normalization, settings.device, cancel=cancel)[detail]
        report({"step": 1, "total": 3, "label": f"UMAP of {len(x):,} points: about a minute…"})
        write(path("umap", detail), umap_coordinates(x))
    else:
        units = [int(u) for u in detail.split("_")] if detail else []
        if units_name(units) != detail or not units:
            raise LookInsideError("No filters to switch off.")

        def on_batch(done, total):
            report({"step": done, "total": total, "label": f"Filters switched off: {done:,} of {total:,} test images"})
        write(path("off", detail), layers.probs_without(ckpt.model, test.images, ckpt.normalization, units,
                                                        settings.device, on_batch=on_batch, cancel=cancel))
    return {"dataset": job.dataset, "network": network, "mode": job.mode, "detail": detail}


def features(settings: Settings, ckpt, test, path, report, cancel: threading.Event) -> dict:
    """Every layer of a network over the test split (for the map) and the training split (for the nearest
    training images and the class means): one pass over each, with progress."""
    train = datasets.load(ckpt.dataset, True, settings)
    total = len(test) + len(train)

    def progress(offset, what):
        def on_batch(done, _):
            report({"step": offset + done, "total": total,
                    "label": f"The network's layers, {what}: {offset + done:,} of {total:,} images"})
        return on_batch
    found_train = layers.features(ckpt.model, train.images, ckpt.normalization, settings.device,
                                  on_batch=progress(0, "training images"), cancel=cancel)
    found_test = layers.features(ckpt.model, test.images, ckpt.normalization, settings.device,
                                 on_batch=progress(len(train), "test images"), cancel=cancel)
    means = train_means(ckpt, train, found=found_train)
    for key, x in found_train.items():
        write(path("train", key), layers.unit_rows(torch.as_tensor(x)).numpy())
        write(path("means", key), means[key])
    for key, x in found_test.items():  # last: the panels take the test features as the sign that all is there
        write(path("features", key), x)
    return {"dataset": ckpt.dataset, "network": ckpt.name, "mode": "features", "detail": ""}


def umap_coordinates(x: np.ndarray, seed: Optional[int] = 0) -> np.ndarray:
    """A 2-D UMAP of the rows of x (float32); seeded, so the same layer always gives the same map."""
    import umap  # imported only in the job's process: numba takes seconds to load

    reducer = umap.UMAP(n_components=2, n_neighbors=UMAP_NEIGHBOURS, min_dist=UMAP_MIN_DIST, random_state=seed,
                        n_jobs=1)
    return np.asarray(reducer.fit_transform(np.asarray(x, dtype=np.float32)), dtype=np.float32)


def watch(service, handle, modes) -> tuple:
    """A background job's progress bar, note, poll switch and "done" mark (the job's id once it ends)."""
    job = service.queue.get(handle.get("id")) if isinstance(handle, dict) else None
    if job is None or job.mode not in modes:
        return no_update, no_update, "train-progress hidden", no_update, True, no_update
    if job.active:
        service.queue.pump()
        job = service.queue.get(job.id) or job
    if not job.active:
        note = None if job.state == "done" else job.message
        return "1", "1", "train-progress hidden", note, True, job.id
    progress = job.progress or {}
    label = progress.get("label") or "Starting…"
    if job.state == "queued":
        label = f"Waiting for the server's queue: {service.queue.ahead_of(job)} job(s) ahead."
    return str(progress.get("step", 0)), str(progress.get("total", 1)), "train-progress", label, False, no_update
