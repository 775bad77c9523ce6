"""The model zoo: finds, trains (once, under a cross-process lock), loads and evaluates each pair."""
from __future__ import annotations

import contextlib
import fcntl
import functools
import logging
import math
import os
import re
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable, Iterator, Optional

import torch

from . import checkpoint, datasets, kinds, templates, timeline
from .cache import Bounded
from .config import Normalization, Settings, TrainConfig, ensure_writable_dir
from .errors import CheckpointError, ConfigError, DamagedCache, LookInsideError
from .evaluate import Evaluation
from .kinds import default_config
from .train import ProgressFn, fit, predict_proba

# Sees each timeline snapshot as it is taken, with the live model and its input normalisation.
SnapshotSeen = Callable[[timeline.Snapshot, torch.nn.Module, Normalization], None]

log = logging.getLogger("lookinside")


RECENT = 3600  # seconds: a network a visitor opened this recently is never pruned, whatever the bounds
USE_EVERY = 60  # seconds: how often a process records, at most, that a network is still being opened
MAX_DISK = 2 * 2 ** 30  # bytes per dataset of visitors' built networks and runs, unless LOOKINSIDE_MAX_DISK says

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
        """Where the pair's checkpoint is written (the model folder)."""
        check_names(dataset, arch)
        return self.settings.model_dir / f"{dataset}-{arch}.pt"

    def stored_path(self, dataset: str, arch: str) -> Path:
        """Where the pair's checkpoint is read from: the model folder's, else the shipped one."""
        return self._found(self.checkpoint_path(dataset, arch))

    def _found(self, path: Path) -> Path:
        """A file of the model folder, or where it is not there, the shipped folder's of the same name (read
        only: what replaces it is written to the model folder, and wins from then on)."""
        shipped = self.settings.shipped_dir
        if shipped is None or path.exists():
            return path
        other = shipped / path.name
        return other if other.exists() else path

    def _eval_path(self, dataset: str, arch: str, checkpoint_id: str = "") -> Path:
        # A snapshot's evaluation gets a file of its own.
        stem = checkpoint.snapshot_id(f"{dataset}-{arch}", checkpoint.parse_id(checkpoint_id)[1])
        return self.settings.model_dir / f"{stem}.eval.npz"

    def timeline_path(self, dataset: str, arch: str) -> Path:
        return self.checkpoint_path(dataset, arch).with_suffix(".timeline.pt")

    def has_checkpoint(self, dataset: str, arch: str) -> bool:
        return self.stored_path(dataset, arch).is_file()

    def load(self, dataset: str, arch: str) -> checkpoint.Checkpoint:
        """The saved checkpoint, rebuilt once per file version; CheckpointError if absent or bad."""
        path = self.stored_path(dataset, arch)
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
        train_set = datasets.without(datasets.load(dataset, True, self.settings), config.exclude_train)
        test_set = datasets.load(dataset, False, self.settings)
        norm = Normalization(*map(tuple, datasets.channel_stats(train_set.images)))
        steps_per_epoch = math.ceil(len(train_set) / config.batch_size)
        steps = timeline.schedule(steps_per_epoch, config.epochs)
        snapshots: list[timeline.Snapshot] = []
        stored: list[int] = []  # the steps the timeline keeps, chosen when the first snapshot's size is known

        # Each snapshot records its accuracy, for the slider's labels, where that costs milliseconds.
        score = kinds.get(kind).scores_snapshots

        def keep(step: int, model: torch.nn.Module) -> None:
            accuracy = None
            if score:
                probs = predict_proba(model, test_set.images, norm, self.settings.device)
                accuracy = float((probs.argmax(1) == test_set.labels.numpy()).mean())
            snap = timeline.capture(model, step, steps_per_epoch, accuracy)
            if not stored:
                stored.extend(timeline.thin(steps, timeline.nbytes(snap)))
            if step in stored:  # the live view sees every snapshot; the file holds those within its bound
                snapshots.append(snap)
            if on_snapshot is not None:
                on_snapshot(snap, model, norm)

        model, report = fit(kind, train_set, norm, config, self.settings.device, on_progress, cancel,
                            on_snapshot=keep, snapshot_steps=steps)
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
        """Remove the least recently used networks built in the page beyond `keep` (those in `protect`, pinned
        ones and those opened in the last RECENT seconds stay)."""
        built = self._by_last_use(dataset, [n for n in self.shapes(dataset) if n not in protect])
        return self._prune(dataset, built, lambda left, _: len(left) > keep, f"more than {keep} built")

    def prune_runs(self, dataset: str, keep: int) -> list[str]:
        """Remove the least recently used unpinned runs of a dataset beyond `keep`, with their derived files
        (those opened in the last RECENT seconds stay)."""
        runs = self._by_last_use(dataset, self.runs(dataset))
        return self._prune(dataset, runs, lambda left, _: len(left) > keep, f"more than {keep} runs")

    def prune_disk(self, dataset: str, max_bytes: int, protect=()) -> list[str]:
        """Remove the least recently used of the visitors' built networks and runs of a dataset until, with
        their timelines and evaluation caches, they take at most `max_bytes` (those in `protect` and pinned ones
        neither count nor go; those opened in the last RECENT seconds count but stay)."""
        theirs = self._by_last_use(dataset, [n for n in [*self.shapes(dataset), *self.runs(dataset)]
                                             if n not in protect])
        return self._prune(dataset, theirs, lambda _, used: used > max_bytes, f"over {_mb(max_bytes)} on disk")

    def mark_used(self, dataset: str, network: str) -> None:
        """Note that a visitor opened this network now, for pruning (a `.used` file's mtime: the checkpoint's
        own keys the caches). Touched at most once a USE_EVERY per process; never raises. Served networks are
        never pruned and get none."""
        if not (is_network(network) and isinstance(dataset, str) and dataset in datasets.DATASETS) \
                or network in kinds.KINDS:
            return
        marker = self.checkpoint_path(dataset, network).with_suffix(".used")
        _TOUCHED.get((marker, int(time.time() // USE_EVERY)), lambda: _touch(marker))

    def last_used(self, dataset: str, network: str) -> int:
        """When a visitor last opened the network, or when it was trained if later (ns since the epoch)."""
        path = self.checkpoint_path(dataset, network)
        return max(_mtime(path.with_suffix(".used")), _mtime(path))

    def disk_use(self, dataset: str, network: str) -> int:
        """The bytes of a network's files: checkpoint, timeline and evaluation caches."""
        return sum(_size(path) for path in self._files(dataset, network))

    def _files(self, dataset: str, network: str) -> list[Path]:
        base = self.checkpoint_path(dataset, network)
        return [base, base.with_suffix(".timeline.pt"), base.with_suffix(".used"),
                *self.settings.model_dir.glob(f"{dataset}-{network}.eval.npz"),
                *self.settings.model_dir.glob(f"{checkpoint.snapshot_stems(f'{dataset}-{network}')}.eval.npz"),
                # what jobs and the layer maps computed for it (app/representations.py's result_path)
                *(self.settings.model_dir / "maps").glob(f"{dataset}-{network}-????????????-*.npy"),
                *(self.settings.model_dir / "maps").glob(f"{dataset}-{network}-????????????-at*-*.npy")]

    def _by_last_use(self, dataset: str, networks: list[str]) -> list[tuple[int, str]]:
        """(last use, network) of the unpinned ones among `networks`, least recently used first."""
        return sorted((self.last_used(dataset, n), n) for n in networks
                      if not self.checkpoint_path(dataset, n).with_suffix(".pin").exists())

    def _prune(self, dataset: str, candidates: list[tuple[int, str]], over: Callable[[list[str], int], bool],
               reason: str) -> list[str]:
        """Remove `candidates` ((last use, network), least recently used first) while `over(left, bytes)`;
        those opened in the last RECENT seconds stay even so, as does one a process is training now."""
        sizes = {n: self.disk_use(dataset, n) for _, n in candidates}
        left, used, removed = [n for _, n in candidates], sum(sizes.values()), []
        recent = time.time_ns() - RECENT * 10 ** 9
        for i, (last, network) in enumerate(candidates):
            if not over(left, used):
                break
            if last >= recent:
                log.info("kept %d networks of %s although %s (%s in all): they were opened in the last %d minutes",
                         len(candidates) - i, dataset, reason, _mb(used), RECENT // 60)
                break
            if self._remove(dataset, network):
                left.remove(network)
                used -= sizes[network]
                removed.append(network)
                log.info("removed %s/%s, the least recently used (%s for %s): %s freed", dataset, network, reason,
                         dataset, _mb(sizes[network]))
        return removed

    def _remove(self, dataset: str, network: str) -> bool:
        """Delete a network's files and its lock file, holding its lock; False, deleting nothing, while another
        process holds it (training it). `_lock` locks only the file still at the path, so a process that was
        waiting on the deleted one locks a fresh one, never beside a process holding the old."""
        with _flock(self.settings.model_dir / f"{dataset}-{network}.lock", wait=False) as held:
            if not held:
                log.info("kept %s/%s: it is being trained", dataset, network)
                return False
            for path in self._files(dataset, network):
                path.unlink(missing_ok=True)
            (self.settings.model_dir / f"{dataset}-{network}.lock").unlink(missing_ok=True)
        return True

    def is_pinned(self, dataset: str, network: str) -> bool:
        """Served networks always are; a run is once an admin pins it (a `.pin` file beside it)."""
        return not parse_network(network)[1] or self.checkpoint_path(dataset, network).with_suffix(".pin").exists()

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
        # Beside the checkpoint it belongs to (a timeline names its checkpoint's id, and is None for another's)
        path = self.stored_path(ckpt.dataset, ckpt.name).with_suffix(".timeline.pt")
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
        path = self._found(self._eval_path(ckpt.dataset, ckpt.name, ckpt.id))
        found = _load_eval_cached(path, _mtime(path), ckpt.id)
        if isinstance(found, Evaluation) and (found.classes != ckpt.classes or found.n != self._test_size(ckpt, found.n)):
            return f"the cached evaluation {path.name} does not match its network or this test split"
        return found

    def _test_size(self, ckpt: checkpoint.Checkpoint, otherwise: int) -> int:
        """How many test images an evaluation of this checkpoint covers here: the split on disk (a shipped network
        is evaluated on whatever copy of its dataset this server has), else what the checkpoint recorded."""
        try:
            return len(datasets.load(ckpt.dataset, False, replace(self.settings, offline=True)))
        except LookInsideError:
            return int(ckpt.metrics.get("n_test", otherwise))

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
        with _flock(folder / f"{dataset}-{arch}.lock"):
            yield


@contextlib.contextmanager
def _flock(path: Path, wait: bool = True) -> Iterator[bool]:
    """Hold an exclusive flock on the file at `path` (made if missing) and yield True; without `wait`, yield
    False at once if another process holds it. A file a prune deleted while we waited for it is let go and
    the one now at the path locked, since the prune deletes it only while holding it (see Zoo._remove)."""
    while True:
        with open(path, "a") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            if _same_file(f.fileno(), path):
                try:
                    yield True
                finally:
                    fcntl.flock(f, fcntl.LOCK_UN)
                return


def _same_file(fd: int, path: Path) -> bool:
    try:
        found, held = path.stat(), os.fstat(fd)
    except OSError:
        return False
    return (found.st_dev, found.st_ino) == (held.st_dev, held.st_ino)


def _mtime(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return 0


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _mb(n: int) -> str:
    return f"{n / 2 ** 20:,.1f} MB"


def disk_bound(text: Optional[str]) -> int:
    """LOOKINSIDE_MAX_DISK as bytes: a whole number, or one with a unit ("500M", "2G", "1.5GB": powers of
    1,024); the default (MAX_DISK), with one warning, for anything else."""
    if text is None or not text.strip():
        return MAX_DISK
    return _parse_bytes(text.strip())


@functools.lru_cache(maxsize=8)  # one warning per bad value and process
def _parse_bytes(text: str) -> int:
    found = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([KMGT]?)(?:I?B)?", text, re.IGNORECASE)
    value = int(float(found[1]) * 1024 ** " KMGT".index(found[2].upper() or " ")) if found else 0
    if value < 1:
        log.warning("LOOKINSIDE_MAX_DISK=%r is not a size (e.g. 2G, 500M or 2000000000 bytes); using %s",
                    text[:40], _mb(MAX_DISK))
        return MAX_DISK
    return value


def _touch(marker: Path) -> bool:
    try:
        marker.touch()
        return True
    except OSError:
        _cannot_mark(marker.parent)
        return False


@functools.lru_cache(maxsize=8)  # one line per folder and process
def _cannot_mark(folder: Path) -> None:
    log.warning("cannot record which networks visitors open in %s (not a writable folder): pruning goes by "
                "training time there", folder)


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
_EVAL_READ = threading.Lock()


@functools.lru_cache(maxsize=32)
def _load_eval_cached(path: Path, mtime_ns: int, checkpoint_id: str):
    # One read at a time: two request threads reading one new file together once raised SystemError inside
    # numpy's zip reader, and the sound file was then taken for damaged until it was written again.
    for attempt in range(2):
        try:
            with _EVAL_READ:
                return Evaluation.load(path, checkpoint_id) if mtime_ns else None
        except DamagedCache as e:
            if attempt:
                log.warning("%s", e)
                return str(e)
    return None


@functools.lru_cache(maxsize=32)
def _load_timeline_cached(path: Path, mtime_ns: int, checkpoint_id: str):
    try:
        return (timeline.load(path, checkpoint_id) or []) if mtime_ns else []
    except DamagedCache as e:
        log.warning("%s", e)
        return str(e)


# When this process last recorded a network's use: a key names a marker file and a minute, for good.
_TOUCHED = Bounded(1024)

# Snapshots rebuilt from a timeline: a snapshot id never names different weights. Bounded by their weights'
# bytes as well as their number: 64 snapshots of a 3 x 1,024 CIFAR-10 net were 1.3 GB in each server process.
_SNAPSHOTS = Bounded(64, max_bytes=256 * 2 ** 20,
                     size=lambda ckpt: sum(p.numel() * p.element_size() for p in ckpt.model.parameters()))


def _snapshot_cached(ckpt: checkpoint.Checkpoint, snap: timeline.Snapshot, device: str) -> checkpoint.Checkpoint:
    return _SNAPSHOTS.get((ckpt.id, snap.step, device), lambda: _snapshot(ckpt, snap, device))


def _snapshot(ckpt: checkpoint.Checkpoint, snap: timeline.Snapshot, device: str) -> checkpoint.Checkpoint:
    model = kinds.build(ckpt.arch, ckpt.model.in_shape, len(ckpt.classes), **ckpt.config.arch_args)
    model.load_state_dict(snap.state_dict)  # float16 on disk; copied into the float32 parameters
    model.to(device).eval()
    return replace(ckpt, id=checkpoint.snapshot_id(ckpt.id, snap.step), model=model, step=snap.step,
                   metrics={"step": snap.step, "epoch": snap.epoch, "label": timeline.epoch_label(snap.epoch)})
