"""Dataset adapters: one per family, each returning raw uint8 images in a fixed order with one clear error."""
from __future__ import annotations

import os
import pickle
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional
from urllib.error import URLError

import numpy as np
import torch
from torchvision import datasets as tvd
from torchvision.datasets.utils import check_integrity, extract_archive

from .config import Settings
from .errors import ConfigError, DataError


@dataclass(frozen=True)
class ImageSet:
    """A split held in memory: raw images for display and training, labels, class names."""
    images: torch.Tensor  # uint8, (N, C, H, W): kept raw, normalization is applied per batch
    labels: torch.Tensor  # int64, (N,)
    classes: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.labels)


def without(split: ImageSet, rows) -> ImageSet:
    """The split less the images at `rows` (indices in its file order; ConfigError for one it lacks)."""
    if not len(rows):
        return split
    drop = np.asarray(sorted({int(r) for r in rows}), dtype=np.int64)
    if drop[0] < 0 or drop[-1] >= len(split):
        bad = int(drop[0] if drop[0] < 0 else drop[-1])
        raise ConfigError(f"training image indices run from 0 to {len(split) - 1}; {bad} is not one")
    keep = torch.ones(len(split), dtype=torch.bool)
    keep[torch.as_tensor(drop)] = False
    return ImageSet(split.images[keep], split.labels[keep], split.classes)


class SafeCIFAR10(tvd.CIFAR10):
    """torchvision's CIFAR10 (files, checksums, download) with its pickle.load replaced by a restricted one."""

    def __init__(self, root: str, train: bool = True, download: bool = False) -> None:
        tvd.VisionDataset.__init__(self, root)
        self.train = train
        if download:
            self.download()
        files = self.train_list if train else self.test_list
        self._check_files(files + [[self.meta["filename"], self.meta["md5"]]])
        chunks, labels = [], []
        for name, _ in files:
            entry = load_cifar_pickle(os.path.join(self.root, self.base_folder, name))
            data, batch_labels = entry.get("data"), entry.get("labels")
            if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 \
                    or data.shape[1] != 3 * 32 * 32 or not isinstance(batch_labels, list) \
                    or len(batch_labels) != len(data):
                raise DataError(f"{name} in {self.root}/{self.base_folder} is not a CIFAR-10 batch "
                                "(unexpected contents); delete it and prepare or download the data again")
            chunks.append(data)
            labels.extend(batch_labels)
        self.data = np.concatenate(chunks).reshape(-1, 3, 32, 32)  # kept channel-first
        self.targets = labels
        meta = load_cifar_pickle(os.path.join(self.root, self.base_folder, self.meta["filename"]))
        self.classes = list(meta.get(self.meta["key"], []))

    def _check_files(self, files: list) -> None:
        """Missing files read as 'not found', files that fail their checksum as corrupt."""
        paths = [(name, os.path.join(self.root, self.base_folder, name), md5) for name, md5 in files]
        missing = [name for name, path, _ in paths if not os.path.exists(path)]
        if missing:
            raise FileNotFoundError("missing: " + ", ".join(missing))
        bad = [name for name, path, md5 in paths if not check_integrity(path, md5)]
        if bad:
            raise ValueError("wrong checksum: " + ", ".join(bad))


# What the real batch files reference, and nothing more. An array's pickle names its rebuild
# function after numpy's module layout, which moved from numpy.core to numpy._core in numpy 2.
_RECONSTRUCT = np.ndarray.__reduce__(np.zeros(0))[0]
_PICKLE_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class _BatchUnpickler(pickle.Unpickler):
    """Unpickler that can build plain containers and numpy arrays and nothing else: no code runs."""

    def find_class(self, module: str, name: str):
        if (module, name) not in _PICKLE_ALLOWED:
            raise pickle.UnpicklingError(f"refused to load {module}.{name}")
        return _PICKLE_ALLOWED[(module, name)]


def load_cifar_pickle(path: str) -> dict:
    """Read one CIFAR-10 batch or meta file with the restricted unpickler; keys come back as str."""
    try:
        with open(path, "rb") as f:
            entry = _BatchUnpickler(f, encoding="latin1").load()
    except FileNotFoundError:
        raise DataError(f"{path} is missing; prepare or download CIFAR-10 again") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as e:
        raise DataError(f"{path} is not a valid CIFAR-10 file ({e}); "
                        "delete it and prepare or download the data again") from None
    if not isinstance(entry, dict):
        raise DataError(f"{path} is not a valid CIFAR-10 file (not a dictionary)")
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in entry.items()}


FORMATS = ("idx", "cifar")  # MNIST's gzipped idx files; CIFAR-10's pickled batches


@dataclass(frozen=True)
class Own:
    """What "Try your own" offers on a dataset: how a picture is converted for it (app/upload.py's recipes:
    "digit", "garment" or "photo"), what the card says, and whether drawing is offered (grey images)."""
    recipe: str
    intro: str
    draw: bool = False


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset's facts, the one place they are written: the torchvision class that owns its files, checksums
    and mirrors, the format they are in, its classes and image shape, how many images each split holds, the
    family whose training settings it takes (models.kinds), what "Try your own" offers and the colour map its
    weights open in. Nothing outside models/ names a dataset or its sizes: a new one is a new descriptor
    (`register`)."""
    name: str
    title: str
    source: type  # a torchvision dataset class; its class attributes name the files and mirrors
    classes: tuple[str, ...]
    shape: tuple[int, int, int]  # C, H, W
    format: str  # one of FORMATS
    family: str  # the training defaults it takes: "mnist" or "cifar"
    sizes: tuple[int, int]  # images in the training and the test split
    own: Own
    colours: str = "diverging"  # the weights' colour map it opens in ("rgb": its templates are pictures)

    @property
    def train_size(self) -> int:
        return self.sizes[0]

    @property
    def test_size(self) -> int:
        return self.sizes[1]

    def folder(self, root: Path) -> Path:
        if self.format == "cifar":
            return root / self.source.base_folder
        return root / self.source.__name__ / "raw"

    def files(self) -> list[tuple[str, str]]:
        """(file name, md5) of every file it needs, as its source names them."""
        if self.format == "cifar":
            return [*self.source.train_list, *self.source.test_list,
                    (self.source.meta["filename"], self.source.meta["md5"])]
        return [(name, md5) for name, md5 in self.source.resources]

    def expected_files(self) -> list[str]:
        try:
            return [name for name, _ in self.files()]
        except (AttributeError, KeyError, TypeError, ValueError):
            return ["(its source names none)"]


DIGITS = tuple(str(d) for d in range(10))
_DRAW_DIGIT = ("Draw {what}, or upload a picture of one: it is converted the way {title}'s {made} were made, and the "
               "network on screen answers as you draw.")
DATASETS: dict[str, DatasetSpec] = {}


def register(spec: DatasetSpec) -> DatasetSpec:
    """Add a dataset (the four below are registered here; a test registers its own)."""
    if spec.format not in FORMATS:
        raise ValueError(f"unknown format {spec.format!r}: choose one of {', '.join(FORMATS)}")
    if len(spec.shape) != 3 or len(spec.classes) < 2 or min(spec.sizes) < 1:
        raise ValueError(f"{spec.name}: a shape (C, H, W), two or more classes and both split sizes are needed")
    DATASETS[spec.name] = spec
    return spec


register(DatasetSpec(
    "mnist", "MNIST", tvd.MNIST, DIGITS, (1, 28, 28), "idx", "mnist", (60_000, 10_000),
    Own("digit", _DRAW_DIGIT.format(what="a digit", title="MNIST", made="digits"), draw=True)))
register(DatasetSpec(
    "fashion-mnist", "Fashion-MNIST", tvd.FashionMNIST, (
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"), (1, 28, 28), "idx", "mnist", (60_000, 10_000),
    Own("garment", "Draw a piece of clothing, a shoe or a bag, or upload a photo of one: it is converted the way "
                   "Fashion-MNIST's product photos were made, and the network on screen answers.", draw=True)))
register(DatasetSpec(
    "kmnist", "KMNIST", tvd.KMNIST, ("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"), (1, 28, 28),
    "idx", "mnist", (60_000, 10_000),
    Own("digit", _DRAW_DIGIT.format(what="one of the ten hiragana", title="KMNIST", made="characters"), draw=True)))
register(DatasetSpec(
    "cifar10", "CIFAR-10", SafeCIFAR10, (
        "airplane", "automobile", "bird", "cat", "deer",
        "dog", "frog", "horse", "ship", "truck"), (3, 32, 32), "cifar", "cifar", (50_000, 10_000),
    Own("photo", "Upload a photo of an animal or a vehicle: it is converted the way CIFAR-10's photos were made "
                 "(centre-cropped to 32×32 colour), and the network on screen answers."), colours="rgb"))


def colour_datasets() -> tuple[str, ...]:
    """The datasets whose weights open in colour (their descriptor says so)."""
    return tuple(name for name, spec in DATASETS.items() if spec.colours == "rgb" and spec.shape[0] == 3)


def get_spec(name: str) -> DatasetSpec:
    try:
        return DATASETS[name]
    except (KeyError, TypeError):
        raise DataError(f"unknown dataset {name!r}: choose one of {', '.join(DATASETS)}") from None


# The splits this process has loaded, by (name, train, data folder): whether a download was allowed is not part
# of the key, so settings that differ only in that (the service's offline copy, the zoo's) share one copy.
_SPLITS: dict[tuple, ImageSet] = {}
_SPLITS_LOCK = threading.Lock()


def load(name: str, train: bool, settings: Settings) -> ImageSet:
    """The train or test split of a dataset, in torchvision's order, loaded once per process."""
    key = (name, bool(train), Path(settings.data_dir))
    found = _SPLITS.get(key)
    if found is None:
        with _SPLITS_LOCK:  # one load at a time: two threads asking together held two copies
            found = _SPLITS.get(key)
            if found is None:
                found = _SPLITS[key] = _load(name, bool(train), key[2], bool(settings.offline))
    return found


def forget() -> None:
    """Drop every split this process has loaded (the tests start each from the files)."""
    with _SPLITS_LOCK:
        _SPLITS.clear()


def read(name: str, train: bool, settings: Settings) -> ImageSet:
    """Like `load`, but not kept: for a process that wants a few images of a split, not all of it."""
    return _load(name, bool(train), Path(settings.data_dir), bool(settings.offline))


def _load(name: str, train: bool, root: Path, offline: bool) -> ImageSet:
    spec = get_spec(name)
    try:
        if spec.format == "idx" and offline:
            _unpack_local(spec, root)
        ds = spec.source(str(root), train=train, download=not offline)
    except DataError:
        raise
    except (URLError, OSError) as e:
        raise _unavailable(spec, root, offline, str(e)) from None
    except RuntimeError as e:
        if "not found" in str(e).lower() or "download" in str(e).lower():
            raise _unavailable(spec, root, offline, str(e)) from None
        raise _corrupt(spec, root, str(e)) from None
    except (AssertionError, ValueError, IndexError, TypeError, AttributeError, KeyError) as e:
        raise _corrupt(spec, root, str(e) or type(e).__name__) from None
    images = torch.as_tensor(np.asarray(ds.data)).reshape(-1, *spec.shape)
    labels = torch.as_tensor(np.asarray(ds.targets), dtype=torch.int64)
    if images.dtype != torch.uint8 or len(images) != len(labels) or len(labels) == 0 \
            or int(labels.min()) < 0 or int(labels.max()) >= len(spec.classes):
        raise _corrupt(spec, root, "images and labels do not match")
    return ImageSet(images.contiguous(), labels, spec.classes)


def _unpack_local(spec: DatasetSpec, root: Path) -> None:
    """Offline: unpack the MNIST-family .gz files already on disk, after checking their checksums."""
    raw = spec.folder(root)
    missing = []
    for filename, md5 in spec.files():
        packed, unpacked = raw / filename, raw / filename.removesuffix(".gz")
        if unpacked.exists():
            continue
        if not packed.exists():
            missing.append(filename)
        elif not check_integrity(str(packed), md5):
            raise _corrupt(spec, root, f"{filename} has the wrong checksum")
        else:
            extract_archive(str(packed), str(raw))
    if missing:
        raise _unavailable(spec, root, True, "missing: " + ", ".join(missing))


def _unavailable(spec: DatasetSpec, root: Path, offline: bool, cause: str) -> DataError:
    first = cause.strip().splitlines()[0] if cause.strip() else "not found"
    how = ("run without --offline to download it" if offline
           else "check the network connection, or copy the files there yourself")
    return DataError(f"{spec.title} data is not available in {spec.folder(root)} ({first}). "
                     f"Expected files: {', '.join(spec.expected_files())}. "
                     f"Fix: {how}, or point --data-dir (or LOOKINSIDE_DATA_DIR) at a folder that has them.",
                     brief=f"{spec.title} is not available on this server: its files are not here"
                           f"{'' if offline else ' and could not be downloaded'}. The other datasets work.")


def _corrupt(spec: DatasetSpec, root: Path, cause: str) -> DataError:
    first = cause.strip().splitlines()[0] if cause.strip() else "unreadable"
    return DataError(f"{spec.title} data in {spec.folder(root)} is corrupt ({first}). "
                     f"Fix: delete the damaged files and download or copy them again "
                     f"({', '.join(spec.expected_files())}), or use --data-dir with a good copy.",
                     brief=f"{spec.title}'s files on this server are damaged, so it cannot be shown. "
                           f"The other datasets work.")


FAILED_FOR = 600.0  # seconds a failed download stands: the page says so instead of offering it again


def note_failed_download(model_dir: Path, name: str, sentence: str) -> None:
    """Remember, for every process of the server, that a dataset could not be downloaded just now."""
    folder = Path(model_dir) / "unavailable"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{name}.txt").write_text(sentence[:300])
    except OSError:
        pass  # a model folder that cannot be written: the page offers the download again, no worse than before


def failed_download(model_dir: Path, name: str, within: float = FAILED_FOR) -> Optional[str]:
    """The sentence of a download of `name` that failed in the last `within` seconds, else None."""
    path = Path(model_dir) / "unavailable" / f"{name}.txt"
    try:
        if time.time() - path.stat().st_mtime <= within:
            return path.read_text()[:300] or None
    except OSError:
        pass
    return None


def channel_stats(images: torch.Tensor) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of uint8 images on the 0..1 scale, in chunks to keep memory flat."""
    total = torch.zeros(images.shape[1], dtype=torch.float64)
    total_sq = torch.zeros_like(total)
    per_chunk = max(1, (1 << 22) // max(1, images[0].numel()))  # about 32 MB of float64 at a time
    for chunk in images.split(per_chunk):
        x = chunk.to(torch.float64).div_(255).transpose(0, 1).reshape(images.shape[1], -1)
        total += x.sum(1)
        total_sq += (x * x).sum(1)
    count = images.numel() / images.shape[1]
    mean = total / count
    std = (total_sq / count - mean * mean).clamp_min(1e-12).sqrt()
    return mean.tolist(), std.tolist()
