"""The model zoo: finds, trains (once, under a cross-process lock), loads and evaluates each pair."""
from __future__ import annotations

import contextlib
import fcntl
import functools
import logging
import math
import threading
from dataclasses import replace
from pathlib import Path
from typing import Callable, Iterator, Optional

import torch

from . import checkpoint, datasets, kinds, templates, timeline
from .cache import Bounded
from .config import Normalization, Settings, TrainConfig, ensure_writable_dir
from .errors import CheckpointError, ConfigError, DamagedCache
from .evaluate import Evaluation
from .kinds import default_config
from .train import ProgressFn, fit, predict_proba

# Sees each timeline snapshot as it is taken, with the live model and its input normalisation.
SnapshotSeen = Callable[[timeline.Snapshot, torch.nn.Module, Normalization], None]

log = logging.getLogger("lookinside")


RUN_MARK = "~run"  # a visitor's run beside a served network: "<arch>~run<N>", e.g. "linear~run3"
MAX_RUN = 10 ** 6


def parse_network(network: str) -> tuple[str, int]:
    """The kind and run number (0 for a network that is no visitor's run) a network id names; ConfigError
    if none. A network id is a served kind ("mlp") or another shape of one ("mlp-32-16-tanh", see
    models.kinds), optionally followed by a run mark ("mlp~run3")."""
    base, mark, run = str(network).partition(RUN_MARK)
    found = kinds.parse(base if isinstance(network, str) else network)
    if not mark:
        return found.kind, 0
    if not (run.isdecimal() and run == str(int(run)) and 0 < int(run) < MAX_RUN):
        raise ConfigError(f"{str(network)[:40]!r} is not a network id (e.g. {base} or {base}{RUN_MARK}1)")
    return found.kind, int(run)


def kind_of(network: str) -> str:
    return parse_network(network)[0]


def base_of(network: str) -> str:
    """The network a visitor's run is a run of (the id itself for any other network)."""
    parse_network(network)
    return network.partition(RUN_MARK)[0]


def shape_of(network: str) -> kinds.Network:
    """The kind and constructor arguments a network id fixes."""
    parse_network(network)
    return kinds.parse(base_of(network))


def is_network(network) -> bool:
    try:
        parse_network(network)
    except ConfigError:
        return False
    return isinstance(network, str)


def run_id(base: str, run: int) -> str:
    return f"{base}{RUN_MARK}{run}"


def shape_config(shape: kinds.Network, family: str, dataset: str) -> TrainConfig:
    """The measured training defaults of a network built in the page (see models.kinds.Shapes)."""
    return kinds.get(shape.kind).shapes.config(family, dataset, shape.args)


def check_names(dataset: str, network: str) -> None:
    datasets.get_spec(dataset)
    parse_network(network)


class Zoo:
    """One per settings; holds no mutable state, so any number of processes can share a model dir."""

    def __init__(self, settings: Settings):
        self.settings = settings

    def checkpoint_path(self, dataset: str, arch: str) -> Path:
        check_names(dataset, arch)
        return self.settings.model_dir / f"{dataset}-{arch}.pt"

    def _eval_path(self, dataset: str, arch: str, checkpoint_id: str = "") -> Path:
        # A snapshot's id is "<checkpoint id>@<step>": its evaluation gets a file of its own.
        step = checkpoint_id.partition("@")[2]
        return self.settings.model_dir / f"{dataset}-{arch}{'@' + step if step else ''}.eval.npz"

    def timeline_path(self, dataset: str, arch: str) -> Path:
        return self.checkpoint_path(dataset, arch).with_suffix(".timeline.pt")

    def has_checkpoint(self, dataset: str, arch: str) -> bool:
        return self.checkpoint_path(dataset, arch).is_file()

    def load(self, dataset: str, arch: str) -> checkpoint.Checkpoint:
        """The saved checkpoint, rebuilt once per file version; CheckpointError if absent or bad."""
        path = self.checkpoint_path(dataset, arch)
        try:
            stat = path.stat()
        except OSError:
            raise CheckpointError(f"no checkpoint for {dataset}/{arch} in {path.parent}") from None
        return _load_cached(path, stat.st_mtime_ns, stat.st_size, dataset, arch, self.settings.device)

    def ensure(self, dataset: str, arch: str, on_progress: Optional[ProgressFn] = None,
               cancel: Optional[threading.Event] = None,
               on_snapshot: Optional[SnapshotSeen] = None) -> checkpoint.Checkpoint:
        """Load the checkpoint, or train one if it is missing or broken; one trainer per pair at a time."""
        try:
            return self.load(dataset, arch)
        except CheckpointError as e:
            if self.has_checkpoint(dataset, arch):
                log.warning("%s; retraining", e)
        with self._lock(dataset, arch):
            try:  # another process may have finished training while we waited for the lock
                return self.load(dataset, arch)
            except CheckpointError:
                return self.train(dataset, arch, on_progress=on_progress, cancel=cancel, on_snapshot=on_snapshot)

    def retrain(self, dataset: str, arch: str, on_progress: Optional[ProgressFn] = None,
                cancel: Optional[threading.Event] = None,
                on_snapshot: Optional[SnapshotSeen] = None) -> checkpoint.Checkpoint:
        """Train the pair again from scratch (recording a timeline), replacing its checkpoint."""
        with self._lock(dataset, arch):
            return self.train(dataset, arch, on_progress=on_progress, cancel=cancel, on_snapshot=on_snapshot)

    def train(self, dataset: str, arch: str, config: Optional[TrainConfig] = None,
              on_progress: Optional[ProgressFn] = None, cancel: Optional[threading.Event] = None,
              on_snapshot: Optional[SnapshotSeen] = None) -> checkpoint.Checkpoint:
        """Train from scratch, evaluate on the test split, save checkpoint, timeline and evaluation cache.

        `on_snapshot(snapshot, model, normalization)` sees every timeline snapshot as it is taken, with
        the live model (to watch training live).
        """
        check_names(dataset, arch)
        ensure_writable_dir(self.settings.model_dir, "model dir")
        spec, kind = datasets.get_spec(dataset), kind_of(arch)
        config = config or self.default_config(dataset, arch)
        wanted = shape_of(arch).args
        if any(config.arch_args.get(k) != v for k, v in wanted.items()):
            raise ConfigError(f"the settings {config.arch_args} do not build the network {arch}")
        train_set = datasets.load(dataset, True, self.settings)
        test_set = datasets.load(dataset, False, self.settings)
        norm = Normalization(*map(tuple, datasets.channel_stats(train_set.images)))
        steps_per_epoch = math.ceil(len(train_set) / config.batch_size)
        snapshots: list[timeline.Snapshot] = []

        # Each snapshot records its accuracy, for the slider's labels, where that costs milliseconds.
        score = kinds.get(kind).scores_snapshots

        def keep(step: int, model: torch.nn.Module) -> None:
            accuracy = None
            if score:
                probs = predict_proba(model, test_set.images, norm, self.settings.device)
                accuracy = float((probs.argmax(1) == test_set.labels.numpy()).mean())
            snapshots.append(timeline.capture(model, step, steps_per_epoch, accuracy))
            if on_snapshot is not None:
                on_snapshot(snapshots[-1], model, norm)

        model, report = fit(kind, train_set, norm, config, self.settings.device, on_progress, cancel,
                            on_snapshot=keep, snapshot_steps=timeline.schedule(steps_per_epoch, config.epochs))
        probs = predict_proba(model, test_set.images, norm, self.settings.device)
        labels = test_set.labels.numpy()
        metrics = {"test_accuracy": float((probs.argmax(1) == labels).mean()), "n_test": len(labels),
                   "train_seconds": round(report.seconds, 2), "history": report.history,
                   "device": self.settings.device, "threads": torch.get_num_threads()}
        if kinds.get(kind).templates:
            per_class = templates.correlations(model, norm, train_set.images, train_set.labels)
            metrics["template_correlation"] = round(float(per_class.mean()), 4)
            metrics["template_correlations"] = [round(float(c), 4) for c in per_class]
        ckpt = checkpoint.save(self.checkpoint_path(dataset, arch), kind, dataset, spec.classes,
                               model.cpu(), norm, config, metrics)
        ckpt = replace(ckpt, network=arch) if arch != kind else ckpt
        # The last snapshot is the checkpoint itself, which the timeline's final position loads at full precision.
        timeline.save(self.timeline_path(dataset, arch), ckpt.id, snapshots[:-1])
        Evaluation(dataset, kind, spec.classes, ckpt.id, labels, probs).save(self._eval_path(dataset, arch))
        log.info("trained %s/%s: %.2f%% test accuracy in %.1fs", dataset, arch,
                 100 * metrics["test_accuracy"], report.seconds)
        return ckpt

    def default_config(self, dataset: str, network: str, **overrides) -> TrainConfig:
        """The measured training settings of a network (its shape's, for a visitor's run), settings replaced."""
        check_names(dataset, network)
        shape, family = shape_of(network), datasets.get_spec(dataset).family
        base = shape_config(shape, family, dataset) if shape.args else default_config(family, shape.kind, dataset)
        return replace(base, **{k: v for k, v in overrides.items() if v is not None})

    def evaluation(self, dataset: str, arch: str, on_progress: Optional[ProgressFn] = None,
                   cancel: Optional[threading.Event] = None,
                   on_snapshot: Optional[SnapshotSeen] = None) -> Evaluation:
        """The test-split evaluation of the current checkpoint, from the disk cache when it is fresh."""
        ckpt = self.ensure(dataset, arch, on_progress, cancel, on_snapshot)
        return self.evaluate(ckpt)

    def template_correlation(self, ckpt: checkpoint.Checkpoint) -> Optional[float]:
        """For a kind whose weights are class templates: how much they look like the training set's class
        means (see models.templates); None for other kinds."""
        if not kinds.get(ckpt.arch).templates:
            return None
        train_set = datasets.load(ckpt.dataset, True, self.settings)
        return templates.correlation(ckpt.model, ckpt.normalization, train_set.images, train_set.labels)

    def runs(self, dataset: str) -> list[str]:
        """The visitors' runs of a dataset on disk (network ids), oldest first."""
        prefix = f"{dataset}-"
        found = []
        for path in self.settings.model_dir.glob(f"{prefix}*{RUN_MARK}*.pt"):
            network = path.name[len(prefix):-len(".pt")]
            if is_network(network) and parse_network(network)[1]:
                found.append((_mtime(path), network))
        return [network for _, network in sorted(found)]

    def next_run(self, dataset: str, base: str, taken=()) -> str:
        """A fresh run id for network `base` on `dataset`, past every run on disk and in `taken`."""
        used = [parse_network(n)[1] for n in [*self.runs(dataset), *taken] if base_of(n) == base]
        return run_id(base, max(used, default=0) + 1)

    def shapes(self, dataset: str) -> list[str]:
        """The networks of a dataset on disk that are shapes other than the served kinds (e.g. mlp-100-relu),
        ordered by kind, depth and widths."""
        prefix, found = f"{dataset}-", []
        for path in self.settings.model_dir.glob(f"{prefix}*-*.pt"):
            network = path.name[len(prefix):-len(".pt")]
            if is_network(network) and not parse_network(network)[1] and network not in kinds.KINDS:
                args = shape_of(network).args
                found.append((kind_of(network), len(args.get("hidden", ())), tuple(args.get("hidden", ())),
                              network))
        return [f[-1] for f in sorted(found)]

    def prune_shapes(self, dataset: str, keep: int, protect=()) -> list[str]:
        """Remove the oldest networks built in the page beyond `keep` (those in `protect` and pinned ones stay)."""
        built = sorted((_mtime(self.checkpoint_path(dataset, n)), n) for n in self.shapes(dataset)
                       if n not in protect and not self.checkpoint_path(dataset, n).with_suffix(".pin").exists())
        removed = [n for _, n in built[:max(0, len(built) - keep)]]
        for network in removed:
            self._remove(dataset, network)
            log.info("removed the built network %s/%s (more than %d built for %s)", dataset, network, keep, dataset)
        return removed

    def _remove(self, dataset: str, network: str) -> None:
        base = self.checkpoint_path(dataset, network)
        for path in [base, base.with_suffix(".timeline.pt"),
                     *self.settings.model_dir.glob(f"{dataset}-{network}.eval.npz"),
                     *self.settings.model_dir.glob(f"{dataset}-{network}@*.eval.npz")]:
            path.unlink(missing_ok=True)

    def is_pinned(self, dataset: str, network: str) -> bool:
        """Served networks always are; a run is once an admin pins it (a `.pin` file beside it)."""
        return not parse_network(network)[1] or self.checkpoint_path(dataset, network).with_suffix(".pin").exists()

    def prune_runs(self, dataset: str, keep: int) -> list[str]:
        """Remove the oldest unpinned runs of a dataset beyond `keep`, with their derived files."""
        unpinned = [n for n in self.runs(dataset) if not self.is_pinned(dataset, n)]
        removed = unpinned[:max(0, len(unpinned) - keep)]
        for network in removed:
            self._remove(dataset, network)
            log.info("removed the visitor run %s/%s (more than %d runs of %s)", dataset, network, keep, dataset)
        return removed

    def timeline(self, ckpt: checkpoint.Checkpoint) -> list[timeline.Snapshot]:
        """The snapshots that led to this checkpoint, oldest first (empty if it was trained without them,
        or if its file is damaged: `timeline_problem` says so)."""
        found = self._timeline_file(ckpt)
        return found if isinstance(found, list) else []

    def timeline_labels(self, ckpt: checkpoint.Checkpoint) -> list[str]:
        """The labels of the checkpoint's timeline positions, the finished network last; empty without one."""
        snaps = self.timeline(ckpt)
        if not snaps:
            return []
        final = timeline.epoch_label(ckpt.config.epochs, ckpt.metrics.get("test_accuracy"), final=True)
        return [s.label for s in snaps] + [final]

    def timeline_problem(self, ckpt: checkpoint.Checkpoint) -> Optional[str]:
        """Why the timeline of this checkpoint cannot be shown although its file is there, or None."""
        found = self._timeline_file(ckpt)
        return None if isinstance(found, list) else found

    def _timeline_file(self, ckpt: checkpoint.Checkpoint):
        path = self.timeline_path(ckpt.dataset, ckpt.name)
        return _load_timeline_cached(path, _mtime(path), ckpt.id)

    def snapshot(self, ckpt: checkpoint.Checkpoint, position: int) -> checkpoint.Checkpoint:
        """The network at a timeline position, as a checkpoint of its own; the last position is `ckpt`."""
        snaps = self.timeline(ckpt)
        if not 0 <= position < len(snaps):
            return ckpt
        return _snapshot_cached(ckpt, snaps[position], self.settings.device)

    def cached_evaluation(self, ckpt: checkpoint.Checkpoint) -> Optional[Evaluation]:
        """The evaluation of this checkpoint if it is already on disk and sound, without computing anything."""
        found = self._eval_file(ckpt)
        return found if isinstance(found, Evaluation) else None

    def evaluation_problem(self, ckpt: checkpoint.Checkpoint) -> Optional[str]:
        """Why the evaluation file of this checkpoint must be recomputed although it is there, or None."""
        found = self._eval_file(ckpt)
        return found if isinstance(found, str) else None

    def _eval_file(self, ckpt: checkpoint.Checkpoint):
        path = self._eval_path(ckpt.dataset, ckpt.name, ckpt.id)
        found = _load_eval_cached(path, _mtime(path), ckpt.id)
        if isinstance(found, Evaluation) and (found.classes != ckpt.classes or found.n != ckpt.metrics.get(
                "n_test", found.n)):
            return f"the cached evaluation {path.name} does not match its network"
        return found

    def evaluate(self, ckpt: checkpoint.Checkpoint) -> Evaluation:
        """The evaluation of this checkpoint: from the disk cache, else computed (a damaged cache is
        recomputed and replaced)."""
        cached = self.cached_evaluation(ckpt)
        if cached is not None:
            return cached
        problem = self.evaluation_problem(ckpt)
        if problem:
            log.warning("%s/%s: %s; recomputing it", ckpt.dataset, ckpt.name, problem)
        test_set = datasets.load(ckpt.dataset, False, self.settings)
        probs = predict_proba(ckpt.model, test_set.images, ckpt.normalization, self.settings.device)
        ev = Evaluation(ckpt.dataset, ckpt.arch, ckpt.classes, ckpt.id, test_set.labels.numpy(), probs)
        try:
            ev.save(self._eval_path(ckpt.dataset, ckpt.name, ckpt.id))
        except OSError as e:  # a read-only model dir still serves; it just evaluates again next time
            log.warning("could not cache the evaluation of %s/%s: %s", ckpt.dataset, ckpt.name, e)
        return ev

    @contextlib.contextmanager
    def _lock(self, dataset: str, arch: str) -> Iterator[None]:
        folder = ensure_writable_dir(self.settings.model_dir, "model dir")
        with open(folder / f"{dataset}-{arch}.lock", "a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)


def _mtime(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return 0


# Read-only caches keyed by file identity (path, mtime, size): a new checkpoint is a new key.
@functools.lru_cache(maxsize=32)
def _load_cached(path: Path, mtime_ns: int, size: int, dataset: str, network: str,
                 device: str) -> checkpoint.Checkpoint:
    ckpt = checkpoint.load(path, dataset=dataset, arch=kind_of(network), device=device)
    wanted = shape_of(network).args
    found = {k: ckpt.config.arch_args.get(k) for k in wanted}
    if found != wanted:
        raise CheckpointError(f"checkpoint {path} holds another shape than {network} ({found})")
    return replace(ckpt, network=network) if network != ckpt.arch else ckpt


# A damaged file is cached as its one-line problem (logged once per file version), so a page that
# asks again does not read it again; rewriting the file gives it a new key.
@functools.lru_cache(maxsize=32)
def _load_eval_cached(path: Path, mtime_ns: int, checkpoint_id: str):
    try:
        return Evaluation.load(path, checkpoint_id) if mtime_ns else None
    except DamagedCache as e:
        log.warning("%s", e)
        return str(e)


@functools.lru_cache(maxsize=32)
def _load_timeline_cached(path: Path, mtime_ns: int, checkpoint_id: str):
    try:
        return (timeline.load(path, checkpoint_id) or []) if mtime_ns else []
    except DamagedCache as e:
        log.warning("%s", e)
        return str(e)


# Snapshots rebuilt from a timeline: a snapshot id never names different weights.
_SNAPSHOTS = Bounded(64)


def _snapshot_cached(ckpt: checkpoint.Checkpoint, snap: timeline.Snapshot, device: str) -> checkpoint.Checkpoint:
    return _SNAPSHOTS.get((ckpt.id, snap.step, device), lambda: _snapshot(ckpt, snap, device))


def _snapshot(ckpt: checkpoint.Checkpoint, snap: timeline.Snapshot, device: str) -> checkpoint.Checkpoint:
    model = kinds.build(ckpt.arch, ckpt.model.in_shape, len(ckpt.classes), **ckpt.config.arch_args)
    model.load_state_dict(snap.state_dict)  # float16 on disk; copied into the float32 parameters
    model.to(device).eval()
    return replace(ckpt, id=f"{ckpt.id}@{snap.step}", model=model,
                   metrics={"step": snap.step, "epoch": snap.epoch, "label": timeline.epoch_label(snap.epoch)})
