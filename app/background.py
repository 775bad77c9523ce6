"""Work too long for a click, run in the job queue (app/tasks.py registers each): a layer's UMAP map ("map"),
the layers of a network whose passes are jobs over the test and training images ("features"), and its test
split with first-layer units switched off ("off"). Each job writes files for one checkpoint
(app/representations.py reads them). No Dash here: the pages poll jobs through app/progress.py."""
from __future__ import annotations

import copy
import re
import threading
from typing import Optional

import numpy as np
import torch
from models import adversarial, datasets, influence, kinds, layers, units
from models.zoo import kind_of
from models.errors import LookInsideError

from .access import address
from .jobs import Job, Refused, Target
from .representations import influence_rows, ranked_in_split, train_means, result_path, save_visualisation, \
    units_name, write, write_change, read_kept_image, VISUAL

UMAP_NEIGHBOURS, UMAP_MIN_DIST = 15, 0.1


def target(ckpt, detail: str) -> Target:
    """What identical requests join on: the network, its checkpoint and the layer or units."""
    return Target(ckpt.name, ckpt.id, detail)


def request(service, view, mode: str, detail: str, visitor: str, admin: bool) -> dict:
    """Queue (or join) the job; its handle for the page to poll, or {"error": sentence}."""
    ckpt = view.checkpoint
    try:
        job, _ = service.queue.submit(ckpt.dataset, target(ckpt, detail), mode, service.job_settings(),
                                      visitor=visitor, who="admin" if admin else "visitor", address=address())
    except Refused as e:
        return {"error": str(e)}
    return job.handle()


def _checkpoint(work, job: Job):
    """The checkpoint the job was asked for, and a function naming its result files; LookInsideError if the
    network was retrained since."""
    aim = job.target
    ckpt = work.zoo.load(job.dataset, aim.network)
    if ckpt.id[:12] != aim.checkpoint:
        raise LookInsideError("The network was retrained since this was asked for; ask again.")

    def path(what, detail):
        return result_path(work.settings.model_dir, job.dataset, aim.network, ckpt.id, what, detail)
    return ckpt, path


def _done(job: Job) -> dict:
    return {"dataset": job.dataset, "network": job.target.network, "mode": job.mode, "detail": job.target.detail}


def umap_map(work, job: Job) -> dict:
    """"map": the UMAP of one layer of the test images (their pixels, a job's features, or computed here)."""
    ckpt, path = _checkpoint(work, job)
    detail, report = job.target.detail, work.report
    test = datasets.load(job.dataset, False, work.settings)
    report({"step": 0, "total": 3, "label": "UMAP: the layer's features…"})
    saved = path("features", detail)
    if detail == layers.INPUT:
        x = layers.pixels(test.images).numpy()
    elif saved.exists():  # from the network's features job
        x = np.load(saved, allow_pickle=False)
    else:
        x = layers.features(ckpt.model, test.images, ckpt.normalization, work.settings.device, cancel=work.cancel)[detail]
    report({"step": 1, "total": 3, "label": f"UMAP of {len(x):,} points: about a minute…"})
    write(path("umap", detail), umap_coordinates(x))
    return _done(job)


def switch_off(work, job: Job) -> dict:
    """"off": the test split's class probabilities with the named first-layer units switched off."""
    ckpt, path = _checkpoint(work, job)
    detail = job.target.detail
    units = [int(u) for u in detail.split("_")] if detail and all(u.isdecimal() for u in detail.split("_")) else []
    if units_name(units) != detail or not units:
        raise LookInsideError("No units to switch off.")
    test = datasets.load(job.dataset, False, work.settings)
    noun = kinds.get(kind_of(job.target.network)).units(len(units)).capitalize()

    def on_batch(done, total):
        work.report({"step": done, "total": total, "label": f"{noun} switched off: {done:,} of {total:,} test images"})
    write(path("off", detail), layers.probs_without(ckpt.model, test.images, ckpt.normalization, units,
                                                    work.settings.device, on_batch=on_batch, cancel=work.cancel))
    return _done(job)


def unit_detail(layer: int, unit: int) -> str:
    """A "unit" job's detail: "2.4" is layer 2, unit 4, as the page numbers them."""
    return f"{layer}.{unit}"


def parse_unit_detail(detail: str) -> Optional[tuple[int, int]]:
    parts = detail.split(".")
    if len(parts) != 2 or not all(p.isdecimal() and len(p) <= 5 for p in parts):
        return None
    return int(parts[0]), int(parts[1])


def unit(work, job: Job) -> dict:
    """"unit": a convnet's unit view: first (once per checkpoint) every unit layer's activations over the test
    split, for the top images and the classes; then one unit's feature visualisation (models/units.py)."""
    ckpt, path = _checkpoint(work, job)
    found = parse_unit_detail(job.target.detail)
    if found is None:
        raise LookInsideError("No such unit.")
    number, index = found
    _, u = units.find(ckpt.model, number, index)
    test = datasets.load(job.dataset, False, work.settings)
    saved = path("units", str(number))
    if not saved.exists():
        def on_batch(done, total):
            work.report({"step": done, "total": total + 1,
                         "label": f"Every unit's activation: {done:,} of {total:,} test images"})
        for i, values in enumerate(units.activations(ckpt.model, test.images, ckpt.normalization,
                                                     work.settings.device, on_batch=on_batch, cancel=work.cancel)):
            write(path("units", str(i + 1)), values)
    work.report({"step": len(test), "total": len(test) + 1, "label": "Searching for the image it responds to most…"})
    save_visualisation(path(VISUAL, unit_detail(number, index)).with_suffix(".npz"), ckpt, test.images,
                       np.load(saved, allow_pickle=False)[:, u], number, u, work.settings.device)
    return _done(job)


def influence_job(work, job: Job) -> dict:
    """"influence": TracIn over the timeline for one test image of a fully connected net that is not the 1-layer
    net (its rank-one scorer runs in the request): one pass over the training images per snapshot."""
    ckpt, path = _checkpoint(work, job)
    detail = job.target.detail
    test = datasets.load(job.dataset, False, work.settings)
    if not (detail.isdecimal() and int(detail) < len(test)):
        raise LookInsideError("No such test image.")
    index = int(detail)
    train = datasets.without(datasets.load(job.dataset, True, work.settings), ckpt.config.exclude_train)
    checkpoints = influence.timeline_checkpoints(work.zoo, ckpt, len(train))
    image = test.images[index].numpy()
    with torch.no_grad():
        target = int(ckpt.model.eval()(ckpt.normalization.apply(test.images[index:index + 1])).argmax())

    def on_chunk(done, total):
        work.report({"step": done, "total": total, "label": f"Scoring the {len(train):,} training images at "
                                                              f"{len(checkpoints)} points of its training"})
    found = influence.scores(checkpoints, train.images, train.labels, ckpt.normalization, image, target,
                             cancel=work.cancel, on_chunk=on_chunk)
    write(path("influence", detail), influence_rows(ranked_in_split(found, ckpt)))
    return _done(job)


def fool_detail(image, target: Optional[int]) -> str:
    """A "fool" job's detail: "12.n" is test image 12 towards the nearest other class, "12.3" towards class 3;
    "d0123456789abcdef.n" a drawing or upload the page kept under that digest (representations.keep_image)."""
    return f"{image if isinstance(image, int) else 'd' + image}.{'n' if target is None else target}"


def parse_fool_detail(detail) -> Optional[tuple]:
    """(test index or drawing digest, class or None), or None for anything fool_detail does not write."""
    parts = detail.split(".") if isinstance(detail, str) else []
    if len(parts) != 2:
        return None
    if parts[0].isdecimal() and len(parts[0]) <= 6:
        image = int(parts[0])
    elif re.fullmatch(r"d[0-9a-f]{16}", parts[0]):
        image = parts[0][1:]
    else:
        return None
    if parts[1] == "n":
        return image, None
    return (image, int(parts[1])) if parts[1].isdecimal() and len(parts[1]) <= 4 else None


QUEUED_FOOL = ("A convnet's search takes seconds of the server's CPU: it runs in the queue, and the change shows here "
               "when it is found.")


def finished_change(service, view, done) -> Optional[tuple]:
    """(image, class, change or None) of the "fool" job whose id `done` is, as the page asked for it (the image:
    a test index or a drawing's digest), whatever its menus say now; None if `done` names no such job."""
    job = service.queue.get(done) if isinstance(done, str) else None
    asked = parse_fool_detail(job.target.detail) if job is not None and job.mode == "fool" else None
    return None if asked is None else (*asked, service.representations.change(view, fool_detail(*asked)))


def fool_job(work, job: Job) -> dict:
    """"fool": the smallest change to one test image that makes a convnet say another class (a search of
    seconds, models/adversarial.py), kept for every visitor."""
    ckpt, path = _checkpoint(work, job)
    found = parse_fool_detail(job.target.detail)
    if found is None:
        raise LookInsideError("No such image.")
    source, to = found
    if isinstance(source, str):  # a drawing or upload, kept by the page before it asked
        image = read_kept_image(path("fool-image", source), ckpt.model.in_shape)
        if image is None:
            raise LookInsideError("The drawing to fool is no longer kept; press Find it again.")
    else:
        test = datasets.load(job.dataset, False, work.settings)
        if source >= len(test):
            raise LookInsideError("No such test image.")
        image = test.images[source].numpy()
    if to is not None and to >= len(ckpt.classes):
        raise LookInsideError("No such class.")
    work.report({"step": 0, "total": 1, "label": "Searching for the smallest change that fools it…"})
    model = copy.deepcopy(ckpt.model).cpu()  # the cached checkpoint stays on its device for the next job
    change = adversarial.fool(model, image, ckpt.normalization, to)
    write_change(path("fool", job.target.detail).with_suffix(".npz"), change)
    return _done(job)


def features(work, job: Job) -> dict:
    """"features": every layer of a network over the test split (for the map) and the training split (for the
    nearest training images and the class means): one pass over each, with progress."""
    ckpt, path = _checkpoint(work, job)
    settings, report, cancel = work.settings, work.report, work.cancel
    test, train = datasets.load(ckpt.dataset, False, settings), datasets.load(ckpt.dataset, True, settings)
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
    return _done(job)


def umap_coordinates(x: np.ndarray, seed: Optional[int] = 0) -> np.ndarray:
    """A 2-D UMAP of the rows of x (float32); seeded, so the same layer always gives the same map."""
    import umap  # imported only in the job's process: numba takes seconds to load

    reducer = umap.UMAP(n_components=2, n_neighbors=UMAP_NEIGHBOURS, min_dist=UMAP_MIN_DIST, random_state=seed,
                        n_jobs=1)
    return np.asarray(reducer.fit_transform(np.asarray(x, dtype=np.float32)), dtype=np.float32)
