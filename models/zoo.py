"""The model zoo: finds, trains (once, under a cross-process lock), loads and evaluates each pair."""
from __future__ import annotations

import contextlib
import fcntl
import functools
import logging
import math
import threading
from collections import OrderedDict
from dataclasses import replace
from pathlib import Path
from typing import Callable, Iterator, Optional

import torch

from . import checkpoint, datasets, nets, timeline
from .config import Settings, ensure_writable_dir
from .errors import CheckpointError, ConfigError
from .evaluate import Evaluation
from .train import Normalization, ProgressFn, TrainConfig, default_config, fit, predict_proba

# Sees each timeline snapshot as it is taken, with the live model and its input normalisation.
SnapshotSeen = Callable[[timeline.Snapshot, torch.nn.Module, Normalization], None]

log = logging.getLogger("lookinside")


def check_names(dataset: str, arch: str) -> None:
    datasets.get_spec(dataset)
    if arch not in nets.ARCHS:
        raise ConfigError(f"unknown arch {arch!r}: choose one of {', '.join(nets.ARCHS)}")


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
        spec = datasets.get_spec(dataset)
        config = config or default_config(spec.family, arch)
        train_set = datasets.load(dataset, True, self.settings)
        test_set = datasets.load(dataset, False, self.settings)
        norm = Normalization(*map(tuple, datasets.channel_stats(train_set.images)))
        steps_per_epoch = math.ceil(len(train_set) / config.batch_size)
        snapshots: list[timeline.Snapshot] = []

        def keep(step: int, model: torch.nn.Module) -> None:
            snapshots.append(timeline.capture(model, step, steps_per_epoch))
            if on_snapshot is not None:
                on_snapshot(snapshots[-1], model, norm)

        model, report = fit(arch, train_set, norm, config, self.settings.device, on_progress, cancel,
                            on_snapshot=keep, snapshot_steps=timeline.schedule(steps_per_epoch, config.epochs))
        probs = predict_proba(model, test_set.images, norm, self.settings.device)
        labels = test_set.labels.numpy()
        metrics = {"test_accuracy": float((probs.argmax(1) == labels).mean()), "n_test": len(labels),
                   "train_seconds": round(report.seconds, 2), "history": report.history,
                   "device": self.settings.device, "threads": torch.get_num_threads()}
        ckpt = checkpoint.save(self.checkpoint_path(dataset, arch), arch, dataset, spec.classes,
                               model.cpu(), norm, config, metrics)
        # The last snapshot is the checkpoint itself, which the timeline's final position loads at full precision.
        timeline.save(self.timeline_path(dataset, arch), ckpt.id, snapshots[:-1])
        Evaluation(dataset, arch, spec.classes, ckpt.id, labels, probs).save(self._eval_path(dataset, arch))
        log.info("trained %s/%s: %.2f%% test accuracy in %.1fs", dataset, arch,
                 100 * metrics["test_accuracy"], report.seconds)
        return ckpt

    def evaluation(self, dataset: str, arch: str, on_progress: Optional[ProgressFn] = None,
                   cancel: Optional[threading.Event] = None,
                   on_snapshot: Optional[SnapshotSeen] = None) -> Evaluation:
        """The test-split evaluation of the current checkpoint, from the disk cache when it is fresh."""
        ckpt = self.ensure(dataset, arch, on_progress, cancel, on_snapshot)
        return self.evaluate(ckpt)

    def timeline(self, ckpt: checkpoint.Checkpoint) -> list[timeline.Snapshot]:
        """The snapshots that led to this checkpoint, oldest first (empty if it was trained without them)."""
        path = self.timeline_path(ckpt.dataset, ckpt.arch)
        return _load_timeline_cached(path, _mtime(path), ckpt.id)

    def snapshot(self, ckpt: checkpoint.Checkpoint, position: int) -> checkpoint.Checkpoint:
        """The network at a timeline position, as a checkpoint of its own; the last position is `ckpt`."""
        snaps = self.timeline(ckpt)
        if not 0 <= position < len(snaps):
            return ckpt
        return _snapshot_cached(ckpt, snaps[position], self.settings.device)

    def cached_evaluation(self, ckpt: checkpoint.Checkpoint) -> Optional[Evaluation]:
        """The evaluation of this checkpoint if it is already on disk, without computing anything."""
        path = self._eval_path(ckpt.dataset, ckpt.arch, ckpt.id)
        return _load_eval_cached(path, _mtime(path), ckpt.id)

    def evaluate(self, ckpt: checkpoint.Checkpoint) -> Evaluation:
        """The evaluation of this checkpoint: from the disk cache, else computed and cached."""
        cached = self.cached_evaluation(ckpt)
        if cached is not None:
            return cached
        test_set = datasets.load(ckpt.dataset, False, self.settings)
        probs = predict_proba(ckpt.model, test_set.images, ckpt.normalization, self.settings.device)
        ev = Evaluation(ckpt.dataset, ckpt.arch, ckpt.classes, ckpt.id, test_set.labels.numpy(), probs)
        try:
            ev.save(self._eval_path(ckpt.dataset, ckpt.arch, ckpt.id))
        except OSError as e:  # a read-only model dir still serves; it just evaluates again next time
            log.warning("could not cache the evaluation of %s/%s: %s", ckpt.dataset, ckpt.arch, e)
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
def _load_cached(path: Path, mtime_ns: int, size: int, dataset: str, arch: str,
                 device: str) -> checkpoint.Checkpoint:
    return checkpoint.load(path, dataset=dataset, arch=arch, device=device)


@functools.lru_cache(maxsize=32)
def _load_eval_cached(path: Path, mtime_ns: int, checkpoint_id: str) -> Optional[Evaluation]:
    return Evaluation.load(path, checkpoint_id) if mtime_ns else None


@functools.lru_cache(maxsize=32)
def _load_timeline_cached(path: Path, mtime_ns: int, checkpoint_id: str) -> list[timeline.Snapshot]:
    return (timeline.load(path, checkpoint_id) or []) if mtime_ns else []


_SNAPSHOTS: "OrderedDict[tuple, checkpoint.Checkpoint]" = OrderedDict()
_SNAPSHOTS_LOCK = threading.Lock()


def _snapshot_cached(ckpt: checkpoint.Checkpoint, snap: timeline.Snapshot, device: str) -> checkpoint.Checkpoint:
    # A read-only cache keyed by identity: a snapshot id never names different weights.
    key = (ckpt.id, snap.step, device)
    with _SNAPSHOTS_LOCK:
        if key in _SNAPSHOTS:
            return _SNAPSHOTS[key]
    model = nets.build(ckpt.arch, ckpt.model.in_shape, len(ckpt.classes), **ckpt.config.arch_args)
    model.load_state_dict(snap.state_dict)  # float16 on disk; copied into the float32 parameters
    model.to(device).eval()
    built = replace(ckpt, id=f"{ckpt.id}@{snap.step}", model=model,
                    metrics={"step": snap.step, "epoch": snap.epoch, "label": snap.label})
    with _SNAPSHOTS_LOCK:
        _SNAPSHOTS[key] = built
        while len(_SNAPSHOTS) > 64:
            _SNAPSHOTS.popitem(last=False)
    return built
