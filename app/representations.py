"""The layers of the network on screen, computed on first use and cached: features, maps, separation,
nearest training images and switched-off units (models.layers does the arithmetic).

Each kind says where its passes run (models.kinds.Pass). A fully connected net passes the whole test split
in milliseconds, so its layers are computed here, in the request. A convnet's pass takes tens of seconds: a
"features" job (app/background.py) writes its layers to files beside the checkpoint, and this reads them;
until then the panels offer to start that job. Switching units off follows the same choice.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path
from typing import BinaryIO, Optional, Sequence

import numpy as np
import torch

from models import adversarial, datasets, influence, layers, units
from models.nets import LinearNet
from models.cache import Bounded
from models.checkpoint import parse_id
from models.evaluate import Evaluation
from models.kinds import Pass
from models.files import atomic_file, atomic_write

MAPS = "maps"  # under the model folder: what jobs computed, one file per checkpoint and layer
MEANS_FROM = 20_000  # training images the class means of the separation figure are taken over
NEAREST = 8


def _nbytes(value) -> int:
    if isinstance(value, dict):
        return sum(_nbytes(v) for v in value.values())
    if isinstance(value, (tuple, list)):
        return sum(_nbytes(v) for v in value)
    if isinstance(value, torch.Tensor):
        return value.element_size() * value.nelement()
    return int(getattr(value, "nbytes", 0))


class Representations:
    """Per process, bounded by bytes (LOOKINSIDE_FEATURE_BYTES, 800 MB, mapped files included: a layer dropped
    from here is mapped again from its file in a moment, so the bound costs little and holds each process's
    share of the page cache too): one layer of the training split as
    half-precision unit rows is 94 MB for MNIST's pixels, 307 MB for CIFAR-10's, a few MB for a hidden layer."""

    def __init__(self, service, max_bytes: int = int(os.environ.get("LOOKINSIDE_FEATURE_BYTES", 800_000_000))):
        self.service = service
        self.store = Bounded(64, max_bytes=max_bytes, size=_nbytes)

    def _key(self, view, what: str, *more) -> tuple:
        ckpt = view.checkpoint
        return (ckpt.dataset, ckpt.name, ckpt.id, what, *more)

    def layers(self, view) -> list[layers.Layer]:
        return layers.layers(view.checkpoint.model)

    def has(self, view, key) -> bool:
        return isinstance(key, str) and key in layers.keys(view.checkpoint.model)

    def ready(self, view) -> bool:
        """Whether this network's layers can be read now (where a job computes them, only once it ran)."""
        return view.kind.maps is Pass.REQUEST or self._saved_test(view) is not None

    # Files written by jobs
    def path(self, view, what: str, detail: str) -> Path:
        ckpt = view.checkpoint
        return result_path(self.service.settings.model_dir, ckpt.dataset, ckpt.name, ckpt.id, what, detail)

    def keep_image(self, view, image: np.ndarray) -> str:
        """Keep a drawing or an upload (uint8, the network's input shape) for a "fool" job to read; its digest."""
        digest = image_digest(image)
        path = self.path(view, "fool-image", digest)
        if not path.exists():
            write(path, np.ascontiguousarray(image, dtype=np.uint8))
        return digest

    def change(self, view, detail: str):
        """A "fool" job's result for the detail it was asked with (background.fool_detail): read_change's."""
        return read_change(self.path(view, "fool", detail).with_suffix(".npz"), view.checkpoint.model.in_shape)

    def saved(self, view, what: str, detail: str, rows: Optional[int] = None) -> Optional[np.ndarray]:
        """A job's result for this checkpoint if it is on disk and well formed, else None."""
        path = self.path(view, what, detail)
        try:
            stamp = path.stat().st_mtime_ns
        except OSError:
            return None
        rows = len(view.images) if rows is None else rows
        return self.store.get(self._key(view, "saved", what, detail, stamp), lambda: _read(path, rows))

    # The test split
    def test(self, view) -> Optional[dict[str, np.ndarray]]:
        """Every layer after the input for the test images, or None while the job that computes them has not run."""
        if view.kind.maps is Pass.JOB:
            return self._saved_test(view)
        ckpt = view.checkpoint

        def build():  # written once per checkpoint, then mapped by every process (a 3 x 1,024 net's are 123 MB)
            paths = {layer.key: self.path(view, "test", layer.key) for layer in self.layers(view)[1:]}
            found = {key: _mapped_array(path, np.float32, len(view.images)) for key, path in paths.items()}
            if all(v is not None for v in found.values()):
                return found
            streamed = _streamed(paths, len(view.images), np.float32, lambda: (
                {k: v.numpy() for k, v in batch.items()} for batch in layers.feature_batches(
                    ckpt.model, view.images.images, ckpt.normalization, self.service.settings.device)))
            if streamed is not None:
                return streamed
            # A folder that cannot be written: kept in this process alone.
            return layers.features(ckpt.model, view.images.images, ckpt.normalization, self.service.settings.device)
        return self.store.get(self._key(view, "test"), build)

    def _saved_test(self, view) -> Optional[dict[str, np.ndarray]]:
        found = {layer.key: self.saved(view, "features", layer.key) for layer in self.layers(view)[1:]}
        return None if any(v is None for v in found.values()) else found

    def pixels(self, dataset: str, rows=slice(None)) -> torch.Tensor:
        """The test images' input layer, made when asked (10 to 40 ms), never kept: as float32 it would be four
        times the images themselves, in every server process."""
        return layers.pixels(datasets.load(dataset, False, self.service.local).images[rows])

    def layer(self, view, key: str) -> Optional[np.ndarray]:
        """One layer of the test images, (N, units) float32; None while its job has not run."""
        if key == layers.INPUT:
            return self.pixels(view.checkpoint.dataset).numpy()
        found = self.test(view)
        return None if found is None else found[key]

    def pca(self, view, key: str) -> Optional[tuple[np.ndarray, np.ndarray]]:
        """The layer's first two principal components: (coordinates, share of variance)."""
        if key == layers.INPUT:  # the same for every network of the dataset: once per dataset, kept on disk
            return self._input_pca(view.checkpoint.dataset)
        x = self.layer(view, key)
        if x is None:
            return None
        return self.service.cached(view, "pca", (key,), lambda: layers.pca(x))

    def _input_pca(self, dataset: str) -> tuple[np.ndarray, np.ndarray]:
        path = Path(self.service.settings.model_dir) / MAPS / f"{dataset}-input-pca.npz"

        def build():
            try:
                with np.load(path, allow_pickle=False) as f:
                    coords, explained = f["coords"], f["explained"]
                rows = len(datasets.load(dataset, False, self.service.local))
                if coords.shape == (rows, 2) and np.isfinite(coords).all():
                    return coords, explained
            except (OSError, ValueError, KeyError):
                pass
            coords, explained = layers.pca(self.pixels(dataset).numpy())
            try:
                write_npz(path, coords=coords, explained=explained)
            except OSError:  # a read-only model folder: kept in memory only
                pass
            return coords, explained
        return self.service.cache.get((dataset, "input-pca"), build)

    # How well the classes separate in each layer
    def separation(self, view) -> Optional[dict[str, float]]:
        """Nearest-class-mean accuracy on the test split in each layer, the class means taken over the
        first MEANS_FROM training images; None while its job has not run."""
        if not self.ready(view):
            return None
        return self.service.cached(view, "separation", (), lambda: self._separation(view))

    def _separation(self, view) -> dict[str, float]:
        ckpt = view.checkpoint
        means = self.saved_means(view) if view.kind.maps is Pass.JOB else train_means(
            ckpt, datasets.load(ckpt.dataset, True, self.service.local), self.service.settings.device)
        means[layers.INPUT] = self.service.cache.get((ckpt.dataset, "input-means"), lambda: input_means(
            datasets.load(ckpt.dataset, True, self.service.local), len(ckpt.classes)))
        labels = view.evaluation.labels
        test = datasets.load(ckpt.dataset, False, self.service.local).images
        return {layer.key: layers.nearest_mean_accuracy(
            means[layer.key], layers.pixel_batches(test) if layer.key == layers.INPUT else self.layer(view, layer.key),
            labels) for layer in self.layers(view)}

    def saved_means(self, view) -> dict[str, np.ndarray]:
        classes = len(view.checkpoint.classes)
        return {layer.key: self.saved(view, "means", layer.key, rows=classes) for layer in self.layers(view)[1:]}

    # Nearest training images
    def index(self, view, key: str) -> Optional[torch.Tensor]:
        """The training split's unit rows in one layer, for cosine search (None while a job must make them)."""
        ckpt = view.checkpoint
        if key == layers.INPUT:  # the same for every network of the dataset
            path = Path(self.service.settings.model_dir) / MAPS / f"{ckpt.dataset}-input-index.npy"
            images = datasets.load(ckpt.dataset, True, self.service.local).images
            return self.store.get((ckpt.dataset, "index", key), lambda: shared(
                path, len(images), lambda: layers.unit_pixel_batches(images)))
        if view.kind.maps is Pass.JOB:
            rows = len(datasets.load(ckpt.dataset, True, self.service.local))
            found = self.saved(view, "train", key, rows=rows)
            return None if found is None else torch.as_tensor(found)
        train = datasets.load(ckpt.dataset, True, self.service.local)

        def build():
            return shared(self.path(view, "index", key), len(train), lambda: layers.unit_feature_batches(
                ckpt.model, train.images, ckpt.normalization, key, self.service.settings.device))
        return self.store.get(self._key(view, "index", key), build)

    def nearest(self, view, key: str, index: int) -> Optional[tuple[np.ndarray, np.ndarray]]:
        """The training images nearest test image `index` in a layer: (rows, cosine distances)."""
        found = self.index(view, key)
        if found is None:
            return None
        if key == layers.INPUT:  # one image's pixels, not the whole split's
            query = self.pixels(view.checkpoint.dataset, slice(index, index + 1))[0]
        else:
            x = self.layer(view, key)
            if x is None:
                return None
            query = torch.as_tensor(x[index])
        return layers.nearest(found, query, NEAREST)

    # One unit (app/panels/unit.py)
    def unit_activations(self, view, layer: int) -> Optional[np.ndarray]:
        """Every test image's activation of each unit of a unit layer (models/units.py; 1-based), (N, count)
        float32: computed here where the kind's passes run in a request (milliseconds), else read from the
        "unit" job's file (None until it ran)."""
        if view.kind.maps is Pass.JOB:
            return self.saved(view, "units", str(layer))
        ckpt = view.checkpoint
        return self.store.get(self._key(view, "units", layer), lambda: units.activations(
            ckpt.model, view.images.images, ckpt.normalization, self.service.settings.device, layer=layer)[0])

    def visualisation(self, view, layer: int, unit: int, make: bool = False) -> Optional[dict]:
        """A unit's feature visualisation (layer and unit as the page numbers them): {"image", "activation",
        "best", "seconds", "steps"}, from its file, which every visitor and process shares. With `make`, where
        the kind's passes run in a request (a fully connected unit's takes about 0.1 s), it is made here if it
        is missing, counted once per unit against the visitor's limit; a convnet's is the "unit" job's, and
        None until that ran."""
        path = self.path(view, VISUAL, f"{layer}.{unit}").with_suffix(".npz")
        ckpt = view.checkpoint

        def read():
            try:
                stamp = path.stat().st_mtime_ns
            except OSError:
                return None
            return self.store.get(self._key(view, "visual", layer, unit, stamp),
                                  lambda: read_visualisation(path, ckpt.model.in_shape))
        found = read()
        if found is not None or not make or view.kind.maps is Pass.JOB:
            return found

        def build():
            self.service.limit_once("unit", f"{ckpt.id}/{layer}.{unit}")
            values = self.unit_activations(view, layer)[:, unit - 1]
            return save_visualisation(path, ckpt, view.images.images, values, layer, unit - 1,
                                      self.service.settings.device)
        return self.service.cached(view, "visual", (layer, unit), build)

    # Which training images taught it (models/influence.py)
    def influence(self, view, index: int) -> Optional[dict]:
        """The proponents and opponents of test image `index` at its predicted class: {"proponents": [[train
        index, score], ...], "opponents": [...]}. The 1-layer net's are computed here (its rank-one scorer is
        built once per checkpoint, about 1.5 s, counted against the visitor's limit; then tens of milliseconds an
        image); any other fully connected net's are an "influence" job's, None until it ran."""
        ckpt = view.checkpoint
        target = int(view.evaluation.preds[index])
        if not isinstance(ckpt.model, LinearNet):
            saved = self.saved(view, "influence", str(index), rows=2 * influence.TOP)
            if saved is None:
                return None
            rows = [[int(i), float(s)] for i, s in np.asarray(saved, dtype=np.float64)]
            return {"proponents": rows[:influence.TOP], "opponents": rows[influence.TOP:]}

        def scorer():
            self.service.limit_once("influence", ckpt.id)
            train = datasets.load(ckpt.dataset, True, self.service.local)
            kept = datasets.without(train, ckpt.config.exclude_train)
            return influence.LinearScorer(influence.timeline_checkpoints(self.service.zoo, ckpt, len(kept)),
                                          kept.images, kept.labels, ckpt.normalization)
        found = self.store.get(self._key(view, "influence-scorer"), scorer)
        return self.service.cached(view, "influence", (index,), lambda: ranked_in_split(
            found.scores(view.images.images[index].numpy(), target), ckpt))

    # Switching units off
    def first(self, view) -> torch.Tensor:
        """The test images' output of the module whose units switch off (models.nets.Units), kept."""
        ckpt = view.checkpoint
        return self.store.get(self._key(view, "first"), lambda: layers.site_outputs(
            ckpt.model, view.images.images, ckpt.normalization, self.service.settings.device))

    def switched(self, view, units: Sequence[int]) -> Optional[Evaluation]:
        """The evaluation with first-layer units switched off. Where the kind switches in the request: exact,
        from the units' kept outputs when the network can go on from there (milliseconds), else one pass with
        them silenced. Where it switches in a job: read from the job's file (None until the job made it)."""
        units, ev, ckpt = tuple(units), view.evaluation, view.checkpoint
        if view.kind.switching is Pass.JOB:
            saved = self.saved(view, "off", units_name(units))
            return None if saved is None else _evaluation(ev, saved.astype(np.float32))

        def build():  # about 1 s of CPU for a wide net: counted once per visitor and set of units
            self.service.limit_once("switch", f"{ckpt.id}/{units_name(units)}")
            if layers.site(ckpt.model).onward is not None:
                logits = torch.as_tensor(layers.logits_without(ckpt.model, self.first(view), units))
                return _evaluation(ev, torch.softmax(logits, 1).numpy().astype(np.float32))
            return _evaluation(ev, layers.probs_without(ckpt.model, view.images.images, ckpt.normalization, units,
                                                        self.service.settings.device))
        return self.service.cached(view, "switched", units, build)


def _evaluation(intact: Evaluation, probs: np.ndarray) -> Evaluation:
    return Evaluation(intact.dataset, intact.arch, intact.classes, intact.checkpoint_id, intact.labels, probs)


def train_means(ckpt, train, device: str = "cpu", found: Optional[dict] = None) -> dict[str, np.ndarray]:
    """Every layer's class means (after the input) over the first MEANS_FROM training images: from `found` (a
    job's features of the training split), or summed a batch at a time. Every layer of 20,000 images at once was
    246 MB for a 3 x 1,024 net (and the batch of CIFAR-10 pixels it came from as much again), in each request
    thread that drew a network's first map."""
    n, classes = min(MEANS_FROM, len(train)), len(ckpt.classes)
    means: dict[str, layers.Means] = {}
    if found is not None:
        batches = iter([(0, {key: torch.as_tensor(x[:n]) for key, x in found.items()})])
    else:
        batches = _counted(layers.feature_batches(ckpt.model, train.images[:n], ckpt.normalization, device))
    for start, batch in batches:
        for key, x in batch.items():
            means.setdefault(key, layers.Means(classes)).add(x, train.labels[start:start + len(x)])
    return {key: m.means() for key, m in means.items()}


def _counted(batches):
    """(the first row's number, batch) for batches of rows (key -> rows)."""
    start = 0
    for batch in batches:
        yield start, batch
        start += len(next(iter(batch.values())))


def input_means(train, classes: int, batch: int = 2000) -> np.ndarray:
    """The class means of the input layer over the first MEANS_FROM training images, a batch at a time: CIFAR-10's
    20,000 as float32 at once were 245 MB for a result of 10 rows."""
    n = min(MEANS_FROM, len(train))
    means = layers.Means(classes)
    for start in range(0, n, batch):
        stop = min(n, start + batch)
        means.add(layers.pixels(train.images[start:stop]), train.labels[start:stop])
    return means.means()


def result_path(model_dir, dataset: str, network: str, checkpoint_id: str, what: str, detail: str) -> Path:
    """Where a job leaves one result for one checkpoint: "features", "train" and "means" of a layer, "umap"
    of a layer, or "off" for switched-off units."""
    stamp, step = parse_id(checkpoint_id)
    stamp = stamp[:12] + (f"-at{step}" if step is not None else "")
    return Path(model_dir) / MAPS / f"{dataset}-{network}-{stamp}-{what}-{detail}.npy"


def units_name(units: Sequence[int]) -> str:
    """A file name part (and job target part) for a set of units: "3_17_20"."""
    return "_".join(str(u) for u in sorted(units))


def shared(path: Path, rows: int, batches) -> torch.Tensor:
    """A layer's training-split index, memory-mapped from its file so that every server process on the machine
    shares one copy (copy-on-write: nobody writes it). When the file is missing or unsound it is written from
    `batches()` (half-precision row batches) a batch at a time, and kept in this process alone where the folder
    cannot be written."""
    found = _mapped_array(path, np.float16, rows)
    if found is None:
        made = _streamed({"rows": path}, rows, np.float16, lambda: ({"rows": b.numpy()} for b in batches()))
        found = made["rows"] if made is not None else torch.cat(list(batches())).numpy()
    return torch.from_numpy(found)


def _streamed(paths: dict[str, Path], rows: int, dtype, batches) -> Optional[dict[str, np.ndarray]]:
    """Arrays of `rows` rows written to `paths` (key -> file) from `batches()` (key -> a batch of rows each),
    one batch at a time through temporary files renamed when complete, then mapped: the whole arrays never
    sit in this process's memory (building a 3 x 1,024 net's training index whole was 123 MB a layer, in
    every worker that built one). None where the folder cannot be written."""
    try:
        with contextlib.ExitStack() as written:  # each renamed into place at the end, or removed on a failure
            files: dict[str, BinaryIO] = {}
            for batch in batches():
                for key, values in batch.items():
                    values = np.ascontiguousarray(values, dtype=dtype)
                    if key not in files:
                        files[key] = written.enter_context(atomic_file(paths[key]))
                        np.lib.format.write_array_header_1_0(files[key], {
                            "descr": np.lib.format.dtype_to_descr(values.dtype), "fortran_order": False,
                            "shape": (rows, values.shape[1])})
                    files[key].write(values.tobytes())
    except OSError:
        return None
    found = {key: _mapped_array(path, np.dtype(dtype), rows) for key, path in paths.items()}
    return None if any(v is None for v in found.values()) else found


def _mapped_array(path: Path, dtype, rows: Optional[int] = None) -> Optional[np.memmap]:
    """The 2-D array in `path` over a copy-on-write mapping of the file, if it is sound, else None."""
    try:
        found = np.load(path, mmap_mode="c", allow_pickle=False)
    except (OSError, ValueError):
        return None
    if not isinstance(found, np.memmap) or found.ndim != 2 or found.dtype != dtype \
            or (rows is not None and len(found) != rows):
        return None
    return found


def _read(path: Path, rows: int) -> Optional[np.ndarray]:
    try:
        found = np.load(path, mmap_mode="c", allow_pickle=False)  # shared with every process that reads it
    except (OSError, ValueError):
        return None
    if found.ndim != 2 or len(found) != rows or not np.isfinite(found).all():
        return None
    return found


def write(path: Path, values: np.ndarray) -> None:
    """Write through a temporary file and a rename (models/files.py): a reader never sees half a file, and the
    file is as readable as the model folder's others (jobs' files were 0600)."""
    atomic_write(path, lambda f: np.save(f, values, allow_pickle=False))


def write_npz(path: Path, **arrays) -> None:
    atomic_write(path, lambda f: np.savez(f, **arrays))


def ranked_in_split(scores: np.ndarray, ckpt) -> dict:
    """Proponents and opponents, their indices counted in the training split's file order (a network trained
    without some images scored the rest)."""
    found = influence.ranked(scores)
    left_out = sorted(int(i) for i in ckpt.config.exclude_train)
    if left_out:
        kept = np.setdiff1d(np.arange(len(scores) + len(left_out)), left_out)
        found = {k: [[int(kept[i]), s] for i, s in rows] for k, rows in found.items()}
    return found


def influence_rows(found: dict) -> np.ndarray:
    """An "influence" job's file: the proponents then the opponents, as (index, score) rows."""
    return np.array(found["proponents"] + found["opponents"], dtype=np.float64)


# The visualisations' file kind, renamed when the search changes so that images an older one made are made again
# (2: a convnet channel's extra steps raise the centre of its map, which beat the best test image where the
# largest value stalled at an edge).
VISUAL = "visual-2"


def write_change(path: Path, change: Optional[adversarial.Change]) -> None:
    """A "fool" job's result: the change found, or that none was (an empty file of one flag)."""
    if change is None:
        write_npz(path, found=np.array(False))
    else:
        write_npz(path, found=np.array(True), target=np.array(change.target), delta=change.delta,
                  changed=change.changed, logits=change.logits, exact=np.array(change.exact))


def image_digest(image: np.ndarray) -> str:
    """A drawing's or an upload's name for the files of its "fool" job: 16 hex digits of its pixels' SHA-256."""
    return hashlib.sha256(np.ascontiguousarray(image, dtype=np.uint8).tobytes()).hexdigest()[:16]


def read_kept_image(path: Path, shape) -> Optional[np.ndarray]:
    """A kept drawing or upload, if it is one: uint8 of the network's input shape."""
    try:
        image = np.load(path, allow_pickle=False)
    except (OSError, ValueError):
        return None
    return image if image.dtype == np.uint8 and image.shape == tuple(shape) else None


NO_CHANGE = "none"  # read_change's answer for a search that found nothing (None: no result yet)


def read_change(path: Path, shape):
    """A "fool" job's change (adversarial.Change), NO_CHANGE if it found none, None if there is no sound file."""
    try:
        with np.load(path, allow_pickle=False) as f:
            found = {k: f[k] for k in f.files}
    except (OSError, ValueError, KeyError):
        return None
    if "found" not in found:
        return None
    if not bool(found["found"]):
        return NO_CHANGE
    if any(k not in found for k in ("target", "delta", "changed", "logits", "exact")) \
            or found["delta"].shape != tuple(shape) or found["changed"].shape != tuple(shape):
        return None
    return adversarial.Change(int(found["target"]), found["delta"], found["changed"], found["logits"],
                              bool(found["exact"]))


def save_visualisation(path: Path, ckpt, images: torch.Tensor, values: np.ndarray, layer: int, unit: int,
                       device: str = "cpu") -> dict:
    """Find the input that drives unit `unit` (0-based) of `layer` hardest, beating the best of the test images
    (`values`, their activations of it), and keep it in `path` (in memory only where it cannot be written)."""
    best = float(np.max(values))
    mean = images.float().mean(0).numpy() / 255.0
    made = units.visualise(ckpt.model, ckpt.normalization, layer, unit, beat=best, around=mean)
    found = {"image": made.image, "numbers": np.array([made.activation, best, made.seconds, made.steps],
                                                      dtype=np.float64)}
    if units.unit_layers(ckpt.model)[layer - 1].classes:  # a class: also noise it calls that class, surely
        found["fooling"], found["fooling_probs"], _ = units.fooling_image(ckpt.model, ckpt.normalization, unit)
    try:
        write_npz(path, **found)
    except OSError:
        pass
    return _visualisation(found)


def _visualisation(found) -> dict:
    activation, best, seconds, steps = (float(v) for v in found["numbers"])
    made = {"image": found["image"], "activation": activation, "best": best, "seconds": seconds, "steps": int(steps)}
    if "fooling" in found:
        made["fooling"], made["fooling_probs"] = found["fooling"], found["fooling_probs"]
    return made


def read_visualisation(path: Path, shape) -> Optional[dict]:
    """A unit job's visualisation file, if it is sound."""
    try:
        with np.load(path, allow_pickle=False) as f:
            found = {k: f[k] for k in f.files if k in ("image", "numbers", "fooling", "fooling_probs")}
    except (OSError, ValueError, KeyError):
        return None
    image, numbers = found.get("image"), found.get("numbers")
    if image is None or numbers is None or image.shape != tuple(shape) or numbers.shape != (4,) \
            or not np.isfinite(image).all():
        return None
    if "fooling" in found and (found["fooling"].shape != tuple(shape) or "fooling_probs" not in found):
        found.pop("fooling")
    return _visualisation(found)
