"""What the dashboard asks of the backend: how a network stands, its view, training requests, shared caches.

Holds only settings and read-only caches keyed by identity; the page's state is in app/state.py, and
helpers of one feature live next to its panel.
"""
from __future__ import annotations

import functools
import logging
import os
import threading
from dataclasses import dataclass, replace
from typing import Optional

from models import datasets, kinds, ladder
from models.cache import Bounded, approx_bytes
from models.checkpoint import Checkpoint
from models.config import Settings
from models.errors import CheckpointError, DataError, LookInsideError
from models.evaluate import Evaluation
from models.zoo import Zoo, base_of, kind_of, parse_network, shape_of

from . import figures
from .access import address
from .images import Thumbnails
from .jobs import Queue, Refused, Target, default_folder
from .representations import Representations
from .state import DATASET_LABELS, ERROR, READY, UNTRAINED, network_label, on_screen, state, valid_pair


log = logging.getLogger("lookinside")
CACHE_BYTES_ENV = "LOOKINSIDE_CACHE_BYTES"  # what the panels drew, per process (the layers' features are apart)


@dataclass(frozen=True)
class View:
    """Everything the panels draw for one ready network."""
    checkpoint: Checkpoint
    evaluation: Evaluation
    images: datasets.ImageSet  # the test split, raw uint8

    @property
    def kind(self) -> kinds.Kind:
        return kinds.get(self.checkpoint.arch)


# A comparison's choice: a network id for the finished network, "id:position" for its timeline's snapshot at
# that position (a position on the slider, not a training step: models/checkpoint.py names snapshots by step).
_POSITION = ":"


def compare_value(network: str, position: Optional[int] = None) -> str:
    return network if position is None else f"{network}{_POSITION}{int(position)}"


def parse_compare_value(value) -> Optional[tuple[str, Optional[int]]]:
    """(network id, timeline position or None) of a comparison value, or None for anything else."""
    if not isinstance(value, str) or len(value) > 40:
        return None
    network, at, position = value.partition(_POSITION)
    if at and not (position.isdecimal() and len(position) <= 6):
        return None
    return network, int(position) if at else None


class Service:
    def __init__(self, settings: Settings, queue: Optional[Queue] = None, limits=None):
        self.settings = settings
        self.queue = queue or Queue(default_folder(settings.model_dir))
        self.limits = limits  # app.access.Limits: per-visitor rate limits on the expensive work
        self.zoo = Zoo(settings)
        # Reading on behalf of a page never downloads: that happens only in a training job.
        self.local = replace(settings, offline=True)
        # What the panels draw, keyed by checkpoint identity: a result for a key never changes, so every
        # worker that builds one builds the same; this only saves rebuilding it on every click.
        self.cache = Bounded(512, max_bytes=int(os.environ.get(CACHE_BYTES_ENV, 200_000_000)), size=approx_bytes)
        self.representations = Representations(self)  # each layer's features, maps and nearest images
        self._evaluating = threading.Lock()  # one snapshot evaluated at a time (a few ms to a second each)

    def cached(self, view: View, what: str, options: tuple, build):
        """`build()` once per checkpoint, kind of output and options."""
        return self.cache.get((view.checkpoint.dataset, view.checkpoint.name, view.checkpoint.id, what, options),
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
            failed = datasets.failed_download(self.settings.model_dir, dataset)
            if failed:  # one state and one sentence everywhere, until it may be tried again
                return state(dataset, arch, ERROR, failed)
            return state(dataset, arch, UNTRAINED, f"{DATASET_LABELS[dataset]} will be downloaded first")
        if parse_network(arch)[1] and not self.zoo.has_checkpoint(dataset, arch):
            return state(dataset, arch, ERROR, "There is no such run of this network (runs are removed when "
                                               "there are too many); choose another network.")
        try:
            ckpt = self.zoo.load(dataset, arch)
        except CheckpointError as e:  # the detail (a path, the reader's complaint) is for the log, not the page
            if not self.zoo.has_checkpoint(dataset, arch):
                return state(dataset, arch, UNTRAINED)
            _warn_once(str(e))
            return state(dataset, arch, UNTRAINED, "its saved file is damaged; train it again")
        self.zoo.mark_used(dataset, arch)  # pruning removes the networks nobody opens (models.zoo)
        if self.zoo.cached_evaluation(ckpt) is None:
            problem = self.zoo.evaluation_problem(ckpt)
            note = f"{problem[0].upper()}{problem[1:]}: recomputing it" if problem else "evaluating the test set"
            return state(dataset, arch, UNTRAINED, note, ckpt.id)
        return state(dataset, arch, READY, checkpoint=ckpt.id, timeline=self.zoo.timeline_labels(ckpt))

    def ready_elsewhere(self, dataset: str, network: str) -> dict:
        """How a served network stands on the other datasets, the ready ones only, by "dataset|network": the
        page draws a switch to one of them at once (assets/view.js `guess`), the server's answer following.
        Built networks are left out, so that listing them marks none as used."""
        if network not in kinds.KINDS:
            return {}
        found = {}
        for other in datasets.DATASETS:
            if other != dataset and self.zoo.has_checkpoint(other, network):
                st = self.resolve(other, network)
                if st["status"] == READY:
                    found[f"{other}|{network}"] = st
        return found

    def train_estimate(self, dataset: str, network: str) -> Optional[float]:
        """About how many seconds training `network` on `dataset` takes here, for the button that starts it: the
        time it took on a dataset of the same family, else (a fully connected net) from its size, at the rate
        the built networks trained here (BENCHMARKS.md, fifth part: about 6 s plus 9e-11 s per weight and
        training image and epoch). None when there is nothing to go on."""
        family = datasets.get_spec(dataset).family
        for other in [dataset, *(d for d in datasets.DATASETS if d != dataset)]:
            if datasets.get_spec(other).family != family or not self.zoo.has_checkpoint(other, network):
                continue
            try:
                seconds = self.zoo.load(other, network).metrics.get("train_seconds")
            except LookInsideError:
                continue
            if isinstance(seconds, (int, float)) and seconds > 0:
                return float(seconds)
        kind = kinds.get(kind_of(network))
        if kind.train_rate is None:  # its cost is not in its weight count
            return None
        spec, config = datasets.get_spec(dataset), self.zoo.default_config(dataset, network)
        weights = sum(p.numel() for p in kind.build(spec.shape, len(spec.classes), **shape_of(network).args).parameters())
        return 6.0 + kind.train_rate * weights * spec.train_size * config.epochs

    def has_data(self, dataset) -> bool:
        """Whether a dataset's test files are here (read without downloading)."""
        if not (isinstance(dataset, str) and dataset in datasets.DATASETS):
            return False
        try:
            datasets.load(dataset, False, self.local)
        except DataError:
            return False
        return True

    def dataset_options(self) -> list[dict]:
        """The dataset dropdown's options: a dataset whose files are not here is marked, and disabled
        when this server may not download it."""
        options = []
        for name, title in DATASET_LABELS.items():
            try:
                datasets.load(name, False, self.local)
                options.append({"label": title, "value": name})
            except DataError:
                if self.settings.offline or datasets.failed_download(self.settings.model_dir, name):
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
        base = base_of(network)
        mode, target, name = "train", Target(network), None
        if watch and found["status"] == READY:
            if admin:
                mode = "retrain"
            else:
                mode, target = "run", Target(base)
                name = functools.partial(self.zoo.next_run, dataset, base)  # called with the ids in flight
        try:
            job, _ = self.queue.submit(dataset, target, mode, self.job_settings(), visitor=visitor,
                                       who="admin" if admin else "visitor", name=name, address=address())
        except Refused as e:
            return {"error": str(e)}
        return job.handle()

    def request_ladder(self, dataset: str, visitor: str, admin: bool) -> dict:
        """Queue (or join) the job that trains the ladder's missing networks of a dataset, one after the
        other (models.ladder); the job's handle, or {"error": sentence} when the bounds refuse it."""
        try:
            job, _ = self.queue.submit(dataset, Target("ladder"), "ladder", self.job_settings(), visitor=visitor,
                                       who="admin" if admin else "visitor", address=address())
        except Refused as e:
            return {"error": str(e)}
        return job.handle()

    def job_settings(self) -> dict:
        shipped = self.settings.shipped_dir
        return {"data_dir": str(self.settings.data_dir), "model_dir": str(self.settings.model_dir),
                "shipped_dir": str(shipped) if shipped is not None else None,
                "offline": self.settings.offline, "device": self.settings.device}

    def ladder_figure(self) -> dict:
        """The ladder's figure over every dataset that has data here, rebuilt when a ladder network changes."""
        names = [d for d in datasets.DATASETS if self.has_data(d)]
        signature = []
        for dataset in names:
            for network in ladder.networks():
                try:
                    signature.append((dataset, network, self.zoo.stored_path(dataset, network).stat().st_mtime_ns))
                except OSError:  # not trained (or removed since)
                    continue
        return self.cache.get(("ladder", tuple(names), tuple(signature)), lambda: self._ladder_figure(names))

    def _ladder_figure(self, names) -> dict:
        lines = {}
        for dataset in names:
            width, depth = [], []
            for p in ladder.points(self.zoo, dataset):
                point = (p.accuracy, p.seconds, p.network)
                if len(p.widths) == 1 and p.widths[0] in ladder.WIDTHS:
                    width.append((p.widths[0], *point))
                if set(p.widths) == {ladder.DEPTH_WIDTH}:
                    depth.append((len(p.widths), *point))
            if width or depth:
                lines[DATASET_LABELS[dataset]] = (dataset, sorted(width), sorted(depth))
        chapter = {DATASET_LABELS[d]: a for d, a in ladder.CHAPTER.items() if d in names}
        if not lines:
            return figures.empty_figure("No network of the ladder is trained yet: train them below.")
        return figures.ladder_figure(lines, chapter).to_dict()

    def _checkpoint(self, dataset: str, arch: str, position=None) -> Checkpoint:
        ckpt = self.zoo.load(dataset, arch)
        if isinstance(position, int) and not isinstance(position, bool):
            ckpt = self.zoo.snapshot(ckpt, position)
        return ckpt

    def _evaluation(self, ckpt: Checkpoint) -> Optional[Evaluation]:
        """A checkpoint's evaluation if one was made: on disk, or (a model folder that cannot be written) kept
        here by `snapshot`."""
        return self.zoo.cached_evaluation(ckpt) or self.cache.find((ckpt.dataset, ckpt.name, ckpt.id, "evaluation"))

    def view(self, dataset: str, arch: str, position=None) -> View:
        """The checkpoint (or its snapshot at a timeline position), evaluation and test images of a ready pair.

        A read: it computes nothing and counts nothing. A snapshot nobody has evaluated yet raises
        CheckpointError until `snapshot` has evaluated it."""
        ckpt = self._checkpoint(dataset, arch, position)
        ev = self._evaluation(ckpt)
        if ev is None:
            raise CheckpointError(f"{dataset}/{arch} has no evaluation yet")
        return View(ckpt, ev, datasets.load(dataset, False, self.local))

    def snapshot(self, dataset: str, arch: str, position: int) -> View:
        """The one step that evaluates a timeline snapshot (once, cached for everyone), before any panel
        draws it: locked, so requests for the same snapshot in this process wait for one evaluation. A
        visitor's limit counts the timelines they open, not the snapshots they step through."""
        ckpt = self._checkpoint(dataset, arch, position)
        if self._evaluation(ckpt) is None:
            with self._evaluating:
                if self._evaluation(ckpt) is None:
                    self.limit_once("snapshot", f"{dataset}/{arch}/{ckpt.id}")
                    self.cache.put((ckpt.dataset, ckpt.name, ckpt.id, "evaluation"), self.zoo.evaluate(ckpt))
        return self.view(dataset, arch, position)

    def limit(self, name: str) -> None:
        """Count one use of an expensive action by this visitor (raises a 429 past its rate limit)."""
        if self.limits is not None:
            self.limits.check(name)

    def limit_once(self, name: str, key: str) -> None:
        """Count `name` once per `key` and hour for this visitor (raises a 429 past its rate limit)."""
        if self.limits is not None:
            self.limits.check_once(name, key)

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

    def shown(self, store) -> Optional[View]:
        """The view the view store names, if that network is ready (and can still be read), else None."""
        return self.look(store)[0]

    def look(self, store) -> tuple[Optional[View], Optional[str]]:
        """The view the view store names, or None and why it cannot be drawn, in a sentence for the page
        (None while the network is still being prepared)."""
        found = on_screen(store)
        if found is None or found["status"] == UNTRAINED:
            return None, None
        if found["status"] == ERROR:
            return None, found["message"]
        try:
            return self.view(found["dataset"], found["network"], found["position"]), None
        except LookInsideError:  # removed or damaged since it was found ready (the zoo logged why)
            return None, UNREADABLE

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
            return self.zoo.timeline_labels(self.zoo.load(dataset, arch))
        except LookInsideError:
            return []

    def models_of(self, dataset: str) -> list[tuple[str, str]]:
        """(value, label) of every evaluated network of a dataset (visitors' runs too) and of its timeline
        snapshots, to compare (`compare_value`).
        """
        found = []
        for ckpt, _ in self.evaluated(dataset, runs=True):
            name = network_label(ckpt.name)
            found.append((ckpt.name, f"{name}, trained"))
            found += [(compare_value(ckpt.name, i), f"{name}, {s.label}")
                      for i, s in enumerate(self.zoo.timeline(ckpt))]
        return found

    def networks(self, dataset) -> list[str]:
        """The network ids a dataset offers: the served kinds, the networks built in the page (on disk or
        being trained now), then the visitors' runs on disk."""
        if not (isinstance(dataset, str) and dataset in datasets.DATASETS):
            return list(kinds.KINDS)
        building = [j.network for j in self.queue.active() if j.dataset == dataset and j.mode == "train"
                    and j.network not in kinds.KINDS and not parse_network(j.network)[1]]
        return list(dict.fromkeys([*kinds.KINDS, *self.zoo.shapes(dataset), *building, *self.zoo.runs(dataset)]))

    def evaluated(self, dataset: str, runs: bool = False) -> list[tuple[Checkpoint, Evaluation]]:
        """Every served network of `dataset` (and, with `runs`, the networks built in the page and the newest
        visitors' runs) whose checkpoint loads and whose evaluation is on disk and sound."""
        found = []
        if not (isinstance(dataset, str) and dataset in datasets.DATASETS):
            return found
        others = [*self.zoo.shapes(dataset)[:SHAPES_COMPARED], *self.zoo.runs(dataset)[-RUNS_COMPARED:]] if runs else []
        for network in [*kinds.KINDS, *others]:
            try:
                ckpt = self.zoo.load(dataset, network)
            except LookInsideError:
                continue
            ev = self.zoo.cached_evaluation(ckpt)
            if ev is not None:
                found.append((ckpt, ev))
        return found

    def view_of(self, dataset: str, value) -> Optional[View]:
        """The view a comparison value names (`compare_value`), or None if it names nothing ready."""
        found = parse_compare_value(value)
        if found is None or not valid_pair(dataset, found[0]):
            return None
        arch, position = found
        try:  # a snapshot chosen to compare: evaluated here if it never was
            return self.snapshot(dataset, arch, position) if position is not None else self.view(dataset, arch)
        except LookInsideError:
            return None

    def explanation(self, view: View, index: int, method: Optional[str] = None):
        """Why the network on screen predicted what it did for test image `index` (the panel is memoised);
        `method` chooses a convnet's pixel maps (models/saliency.py)."""
        return view.kind.explain(view.checkpoint.model, view.images.images[index].numpy(),
                                 view.checkpoint.normalization, int(view.evaluation.labels[index]), method)

    def sample_uri(self, dataset: str, index: int) -> str:
        return _thumbnails(self.local, dataset).uri(int(index))

    def warm(self, train: bool = False) -> list[tuple[str, str]]:
        """Load every ready pair and encode its test images' thumbnails (and with `train`, load the training
        split too); return the ready pairs.

        For a server's background thread, so that a process's first clicks cost what later ones do
        (about 2.5 s of one core for MNIST, Fashion-MNIST and CIFAR-10). Never evaluates or trains.
        """
        pairs = []
        for dataset in datasets.DATASETS:
            ready = [network for network in kinds.KINDS if self.revision(dataset, network) is not None]
            if ready:
                self.thumbnails(dataset).fill()
                pairs += [(dataset, network) for network in ready]
                if train:
                    datasets.load(dataset, True, self.local)
        return pairs

    def thumbnails(self, dataset: str) -> Thumbnails:
        return _thumbnails(self.local, dataset)


UNREADABLE = "This network can no longer be read (removed or damaged since it was shown); choose it again."
# Runs offered to compare: the newest ones. Each is loaded to be listed, and the checkpoint cache holds 32.
RUNS_COMPARED = 10
SHAPES_COMPARED = 16  # networks built in the page, offered to compare (the first, by kind, depth and width)


@functools.lru_cache(maxsize=8)
def _thumbnails(settings: Settings, dataset: str) -> Thumbnails:
    # Encoded once per image and process: a cell click only looks these up.
    return Thumbnails(datasets.load(dataset, False, settings).images)


@functools.lru_cache(maxsize=64)
def _warn_once(message: str) -> None:
    """Log a damaged file's problem once per process, however often pages ask for it."""
    log.warning("%s", message)
