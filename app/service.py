"""What the dashboard asks of the backend. Holds only settings; caches are read-only and keyed by identity."""
from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import Optional

import numpy as np
import torch

from models import datasets, explain, nets, timeline
from models.checkpoint import Checkpoint
from models.config import Settings
from models.errors import CheckpointError, DataError, LookInsideError
from models.evaluate import Evaluation
from models.suspects import Suspect, likely_label_errors
from models.zoo import Zoo, is_network, parse_network

from .images import Thumbnails
from .jobs import Queue, Refused

READY, UNTRAINED, ERROR = "ready", "untrained", "error"
DATASET_LABELS = {name: spec.title for name, spec in datasets.DATASETS.items()}
ARCH_LABELS = {"linear": "1-layer (linear)", "mlp": "2-layer (10 hidden units)", "cnn": "Convnet"}


def network_label(network: str) -> str:
    """A network's name in the page: its kind's label, and for a visitor's run its number."""
    arch, run = parse_network(network)
    return ARCH_LABELS[arch] + (f", visitor run {run}" if run else "")


def state(dataset: str, arch: str, status: str, message: str = "", checkpoint: str = "") -> dict:
    """The small JSON a page keeps about the chosen pair."""
    return {"dataset": dataset, "arch": arch, "status": status, "message": message, "checkpoint": checkpoint}


def current(resolved: Optional[dict], trained: Optional[dict], dataset: str, arch: str) -> Optional[dict]:
    """The state for the pair on screen: a ready state first, else a finished job's, else the first look.

    States come back from the browser, so anything not shaped like one of ours is ignored.
    """
    matching = [s for s in (trained, resolved) if _is_state(s) and s["dataset"] == dataset and s["arch"] == arch]
    ready = [s for s in matching if s["status"] == READY]
    return (ready or matching or [None])[0]


def _is_state(value) -> bool:
    return isinstance(value, dict) and value.get("status") in (READY, UNTRAINED, ERROR) \
        and all(isinstance(value.get(k), str) for k in ("dataset", "arch", "message", "checkpoint"))


def valid_pair(dataset, arch) -> bool:
    """A known dataset and a well-formed network id (a served network or a visitor's run)."""
    return isinstance(dataset, str) and isinstance(arch, str) and dataset in datasets.DATASETS \
        and len(arch) <= 40 and is_network(arch)


@dataclass(frozen=True)
class View:
    """Everything the panels draw for one ready pair."""
    checkpoint: Checkpoint
    evaluation: Evaluation
    images: datasets.ImageSet  # the test split, raw uint8


class Memo:
    """A bounded, thread-safe memo of results keyed by checkpoint identity and view options.

    A result for a key never changes (a new checkpoint has a new id), so every worker that computes
    one computes the same; this only saves rebuilding figures and image lists on every click.
    """

    def __init__(self, size: int = 512):
        self.size, self.items, self.lock = size, OrderedDict(), threading.Lock()

    def get(self, key, build):
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
                return self.items[key]
        value = build()
        with self.lock:
            self.items[key] = value
            while len(self.items) > self.size:
                self.items.popitem(last=False)
        return value


class Service:
    def __init__(self, settings: Settings, queue: Optional[Queue] = None, limits=None):
        self.settings = settings
        self.queue = queue or Queue()
        self.limits = limits  # app.access.Limits: per-visitor rate limits on the expensive work
        self.zoo = Zoo(settings)
        # Reading on behalf of a page never downloads: that happens only in a training job.
        self.local = replace(settings, offline=True)
        self.memo = Memo()

    def cached(self, view: View, kind: str, options: tuple, build):
        """`build()` once per checkpoint, kind of output and options."""
        return self.memo.get((view.checkpoint.dataset, view.checkpoint.arch, view.checkpoint.id, kind, options),
                             build)

    def resolve(self, dataset: str, arch: str) -> dict:
        """Fast look: ready to draw, needs a job (download, training or evaluation), or cannot be had."""
        if not valid_pair(dataset, arch):
            return state(str(dataset)[:40], str(arch)[:40], ERROR, "unknown dataset or model")
        try:
            datasets.load(dataset, False, self.local)
        except DataError as e:
            if self.settings.offline:
                return state(dataset, arch, ERROR, e.brief)
            return state(dataset, arch, UNTRAINED, f"{DATASET_LABELS[dataset]} will be downloaded first")
        if parse_network(arch)[1] and not self.zoo.has_checkpoint(dataset, arch):
            return state(dataset, arch, ERROR, "There is no such run of this network (runs are removed when "
                                               "there are too many); choose another network.")
        try:
            ckpt = self.zoo.load(dataset, arch)
        except CheckpointError as e:
            note = "" if not self.zoo.has_checkpoint(dataset, arch) else f"{e}; it will be retrained"
            return state(dataset, arch, UNTRAINED, note)
        if self.zoo.cached_evaluation(ckpt) is None:
            problem = self.zoo.evaluation_problem(ckpt)
            note = f"{problem[0].upper()}{problem[1:]}: recomputing it" if problem else "evaluating the test set"
            return state(dataset, arch, UNTRAINED, note, ckpt.id)
        return state(dataset, arch, READY, checkpoint=ckpt.id)

    def dataset_options(self) -> list[dict]:
        """The dataset dropdown's options: a dataset whose files are not here is marked, and disabled
        when this server may not download it."""
        options = []
        for name, title in DATASET_LABELS.items():
            try:
                datasets.load(name, False, self.local)
                options.append({"label": title, "value": name})
            except DataError:
                if self.settings.offline:
                    options.append({"label": f"{title} (not available here)", "value": name, "disabled": True})
                else:
                    options.append({"label": f"{title} (downloaded on first use)", "value": name})
        return options

    def request_training(self, dataset: str, network: str, visitor: str, admin: bool, watch: bool = False) -> dict:
        """Queue (or join) the job that makes the chosen network ready, or that watches it train again.

        Returns the job's handle for the page to poll, {"error": sentence} when the bounds refuse it,
        or {} when there is nothing to do. Watching a ready network trains it again in place only for
        an admin; anyone else gets a new run of the same kind beside it, which replaces nothing.
        """
        found = self.resolve(dataset, network)
        if found["status"] == ERROR or (found["status"] == READY and not watch):
            return {}
        arch = parse_network(network)[0]
        mode, target, name = "train", network, None
        if watch and found["status"] == READY:
            if admin:
                mode = "retrain"
            else:
                mode, target = "run", arch
                name = functools.partial(self.zoo.next_run, dataset, arch)  # called with the ids in flight
        settings = {"data_dir": str(self.settings.data_dir), "model_dir": str(self.settings.model_dir),
                    "offline": self.settings.offline, "device": self.settings.device}
        try:
            job, _ = self.queue.submit(dataset, target, mode, settings, visitor=visitor,
                                       who="admin" if admin else "visitor", name=name)
        except Refused as e:
            return {"error": str(e)}
        return job.handle()

    def view(self, dataset: str, arch: str, position=None, evaluate: bool = True) -> View:
        """The checkpoint (or its snapshot at a timeline position), evaluation and test images of a ready pair.

        A snapshot nobody has looked at yet is evaluated here (rate-limited), unless `evaluate` is False."""
        ckpt = self.zoo.load(dataset, arch)
        if isinstance(position, int) and not isinstance(position, bool):
            ckpt = self.zoo.snapshot(ckpt, position)
        ev = self.zoo.cached_evaluation(ckpt)
        if ev is None and evaluate and ckpt.metrics.get("label"):  # a snapshot: evaluated on first view, cached
            self.limit("snapshot")
            ev = self.zoo.evaluate(ckpt)
        if ev is None:
            raise CheckpointError(f"{dataset}/{arch} has no evaluation yet")
        return View(ckpt, ev, datasets.load(dataset, False, self.local))

    def limit(self, name: str) -> None:
        """Count one use of an expensive action by this visitor (raises a 429 past its rate limit)."""
        if self.limits is not None:
            self.limits.check(name)

    def revision(self, dataset, arch) -> Optional[tuple[str, int]]:
        """What a drawing of the pair depends on besides the request (None unless the pair is ready).

        The checkpoint id names the weights and, through them, the evaluation; the timeline's length
        says whether its snapshots were there. Both are read through the stat-keyed caches, so a
        network retrained by another process shows up here at once.
        """
        if not valid_pair(dataset, arch):
            return None
        try:
            view = self.view(dataset, arch)
        except LookInsideError:
            return None
        return view.checkpoint.id, len(self.zoo.timeline(view.checkpoint))

    def ready_view(self, resolved, trained, dataset, arch, position=None) -> tuple[Optional[View], Optional[dict]]:
        """The view to draw if the pair on screen is ready, with the state that explains it if not."""
        st = current(resolved, trained, dataset, arch)
        if st is None or st.get("status") != READY or not valid_pair(dataset, arch):
            return None, st
        try:
            return self.view(dataset, arch, position), st
        except LookInsideError as e:
            return None, state(dataset, arch, ERROR, str(e))

    def timeline_problem(self, dataset: str, arch: str) -> Optional[str]:
        """Why the pair's timeline file cannot be shown, or None (also when there is none)."""
        if not valid_pair(dataset, arch):
            return None
        try:
            return self.zoo.timeline_problem(self.zoo.load(dataset, arch))
        except LookInsideError:
            return None

    def timeline(self, dataset: str, arch: str) -> list[str]:
        """Labels of the pair's timeline positions, the final checkpoint last; empty without a timeline."""
        if not valid_pair(dataset, arch):
            return []
        try:
            ckpt = self.zoo.load(dataset, arch)
        except LookInsideError:
            return []
        snaps = self.zoo.timeline(ckpt)
        if not snaps:
            return []
        final = timeline.epoch_label(ckpt.config.epochs, ckpt.metrics.get("test_accuracy"), final=True)
        return [s.label for s in snaps] + [final]

    def models_of(self, dataset: str) -> list[tuple[str, str]]:
        """(value, label) of every evaluated network of a dataset (visitors' runs too) and of its timeline
        snapshots, to compare. A value is the network id for a finished network, "id@position" for a snapshot.
        """
        found = []
        for ckpt, _ in self._evaluated(dataset, runs=True):
            name = network_label(ckpt.name)
            found.append((ckpt.name, f"{name}, trained"))
            found += [(f"{ckpt.name}@{i}", f"{name}, {s.label}") for i, s in enumerate(self.zoo.timeline(ckpt))]
        return found

    def networks(self, dataset) -> list[str]:
        """The network ids a dataset offers: the served kinds, then the visitors' runs on disk."""
        runs = self.zoo.runs(dataset) if isinstance(dataset, str) and dataset in datasets.DATASETS else []
        return [*nets.ARCHS, *runs]

    def _evaluated(self, dataset: str, runs: bool = False) -> list[tuple[Checkpoint, Evaluation]]:
        """Every served network of `dataset` (and, with `runs`, its newest visitors' runs) whose checkpoint
        loads and whose evaluation is on disk and sound."""
        found = []
        if not (isinstance(dataset, str) and dataset in datasets.DATASETS):
            return found
        for network in [*nets.ARCHS, *(self.zoo.runs(dataset)[-RUNS_COMPARED:] if runs else ())]:
            try:
                ckpt = self.zoo.load(dataset, network)
            except LookInsideError:
                continue
            ev = self.zoo.cached_evaluation(ckpt)
            if ev is not None:
                found.append((ckpt, ev))
        return found

    def view_of(self, dataset: str, value) -> Optional[View]:
        """The view a comparison value names ("arch" or "arch@position"), or None if it names nothing ready."""
        if not isinstance(value, str) or len(value) > 40:
            return None
        arch, _, position = value.partition("@")
        if not valid_pair(dataset, arch) or (position and not position.isdigit()):
            return None
        try:
            return self.view(dataset, arch, int(position) if position else None)
        except LookInsideError:
            return None

    def explanation(self, view: View, index: int):
        """Why the network on screen predicted what it did for test image `index` (the panel is memoised)."""
        return explain.explain(view.checkpoint.model, view.images.images[index].numpy(),
                               view.checkpoint.normalization, int(view.evaluation.labels[index]))

    def cell_mean(self, view: View, actual: int, predicted: int) -> Optional[np.ndarray]:
        """The mean (C, H, W) uint8 image of a cell, or None for an empty cell."""
        def build():
            indices = view.evaluation.cell(actual, predicted)
            if len(indices) == 0:
                return None
            return mean_image(view.images.images, indices)
        return self.cached(view, "cell-mean", (actual, predicted), build)

    def class_means(self, dataset: str) -> np.ndarray:
        """The mean test image of every class, (classes, C, H, W) uint8."""
        return _class_means(self.local, dataset)

    def suspects(self, dataset: str) -> tuple[list[str], list[Suspect]]:
        """Likely label errors by every model of `dataset` that is trained and evaluated, and their names."""
        evaluations = [ev for _, ev in self._evaluated(dataset)]
        if not evaluations:
            return [], []
        key = tuple(ev.checkpoint_id for ev in evaluations)
        found = self.memo.get((dataset, "suspects", key), lambda: likely_label_errors(
            evaluations[0].labels, [ev.probs for ev in evaluations], limit=SUSPECTS_SHOWN))
        return [ev.arch for ev in evaluations], found

    def sample_uri(self, dataset: str, index: int) -> str:
        return _thumbnails(self.local, dataset).uri(int(index))

    def warm(self) -> list[tuple[str, str]]:
        """Load every ready pair and encode its test images' thumbnails; return the ready pairs.

        For a server's background thread, so that a process's first clicks cost what later ones do
        (about 2.5 s of one core for MNIST, Fashion-MNIST and CIFAR-10, plus 1.7 s and 23 MB for the data
        view's pools of training images, measured on a slower machine). Never evaluates or trains.
        """
        pairs = []
        for dataset in datasets.DATASETS:
            ready = [arch for arch in nets.ARCHS if self.revision(dataset, arch) is not None]
            if ready:
                _thumbnails(self.local, dataset).fill()
                try:  # the data view's training images and counts: read the split here, not on a first visit
                    _train_pool(self.local, dataset)
                except DataError:
                    pass  # no training split here: the data view says so when asked
                pairs += [(dataset, arch) for arch in ready]
        return pairs

    def split_labels(self, dataset: str, train: bool) -> np.ndarray:
        """The labels the data view samples from: all test images, or the fixed pool of training images."""
        if not train:
            return datasets.load(dataset, False, self.local).labels.numpy()
        return _train_pool(self.local, dataset).labels

    def split_index(self, dataset: str, train: bool, position: int) -> int:
        """The dataset's own index of the image at `position` of `split_labels`."""
        return int(_train_pool(self.local, dataset).indices[position]) if train else int(position)

    def split_uri(self, dataset: str, train: bool, position: int) -> str:
        if not train:
            return self.sample_uri(dataset, position)
        return _train_pool(self.local, dataset).thumbnails.uri(int(position))

    def class_counts(self, dataset: str, train: bool) -> np.ndarray:
        """Images per class in the whole split."""
        if train:
            return _train_pool(self.local, dataset).counts
        labels = datasets.load(dataset, False, self.local).labels.numpy()
        return np.bincount(labels, minlength=len(datasets.DATASETS[dataset].classes))

    def top_image_uris(self, ev: Evaluation) -> list[list[Optional[str]]]:
        top = ev.top_per_cell()
        return [[self.sample_uri(ev.dataset, n) if n >= 0 else None for n in row] for row in top]


SUSPECTS_SHOWN = 60  # the most suspicious images listed; a person reads the top of the list
# Runs offered to compare: the newest ones. Each is loaded to be listed, and the checkpoint cache holds 32.
RUNS_COMPARED = 10


def mean_image(images, indices) -> np.ndarray:
    """The pixel-wise mean of some uint8 images, rounded back to uint8."""
    chosen = images[np.asarray(indices)].double()
    return chosen.mean(0).round().to(dtype=images.dtype).numpy()


@functools.lru_cache(maxsize=8)
def _class_means(settings: Settings, dataset: str) -> np.ndarray:
    test = datasets.load(dataset, False, settings)
    labels = test.labels.numpy()
    members = [np.flatnonzero(labels == c) for c in range(len(test.classes))]
    return np.stack([mean_image(test.images, m) if len(m) else np.zeros(test.images.shape[1:], np.uint8)
                     for m in members])


# Training images the data view draws from: a fixed random subset, so that a web process never keeps a
# whole training split (150 MB for CIFAR-10) for a grid of fifty images; 5,000 of them is 3.9 MB of MNIST.
TRAIN_POOL = 5000


@dataclass(frozen=True)
class TrainPool:
    indices: np.ndarray  # the pool's images' indices in the training split, ascending
    labels: np.ndarray
    counts: np.ndarray  # images per class in the whole training split
    thumbnails: Thumbnails


@functools.lru_cache(maxsize=len(datasets.DATASETS))
def _train_pool(settings: Settings, dataset: str) -> TrainPool:
    full = datasets.read(dataset, True, settings)  # read once, then let go of all but the pool
    labels = full.labels.numpy()
    keep = np.sort(np.random.default_rng(0).choice(len(labels), size=min(TRAIN_POOL, len(labels)), replace=False))
    images = full.images[torch.as_tensor(keep)].clone()
    return TrainPool(keep, labels[keep].copy(), np.bincount(labels, minlength=len(full.classes)), Thumbnails(images))


@functools.lru_cache(maxsize=len(datasets.DATASETS))
def _thumbnails(settings: Settings, dataset: str) -> Thumbnails:
    # Encoded once per image and process: a cell click only looks these up.
    return Thumbnails(datasets.load(dataset, False, settings).images)


def weights_arrays(ckpt: Checkpoint) -> dict[str, np.ndarray]:
    return {name: t.cpu().numpy() for name, t in ckpt.model.visuals().items()}
