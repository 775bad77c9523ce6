"""Small datasets written in the real on-disk formats (idx .gz, CIFAR-10 pickle batches, tar.gz)."""
from __future__ import annotations

import gzip
import hashlib
import io
import pickle
import struct
import tarfile
from pathlib import Path

import numpy as np

N_TRAIN, N_TEST = 300, 100


def make_images(n: int, shape: tuple[int, int, int], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Class k lights up a band at row 2k+1 plus noise: easy to learn, so training can be checked."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n).astype(np.uint8)
    c, h, w = shape
    images = rng.integers(0, 60, (n, c, h, w)).astype(np.uint8)
    for i, k in enumerate(labels):
        row = (2 * int(k) + 1) * h // 22
        images[i, :, row:row + 2, 2:w - 2] = 230
    return images, labels


def idx_bytes(array: np.ndarray) -> bytes:
    code = {1: 0x0801, 3: 0x0803}[array.ndim]
    return struct.pack(">I", code) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def write_mnist(raw: Path, n_train: int = N_TRAIN) -> dict[str, np.ndarray]:
    """Writes the four .gz files of an MNIST-family set into `raw`; returns the arrays written."""
    raw.mkdir(parents=True, exist_ok=True)
    train_x, train_y = make_images(n_train, (1, 28, 28), 1)
    test_x, test_y = make_images(N_TEST, (1, 28, 28), 2)
    arrays = {"train-images-idx3-ubyte": train_x[:, 0], "train-labels-idx1-ubyte": train_y,
              "t10k-images-idx3-ubyte": test_x[:, 0], "t10k-labels-idx1-ubyte": test_y}
    for name, arr in arrays.items():
        with gzip.open(raw / f"{name}.gz", "wb") as f:
            f.write(idx_bytes(arr))
    return arrays


def mnist_resources(raw: Path) -> list[tuple[str, str]]:
    names = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
             "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
    return [(n, md5(raw / n)) for n in names]


CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def write_cifar(folder: Path) -> dict[str, np.ndarray]:
    """Writes data_batch_1..5, test_batch and batches.meta with the originals' keys and array layout.

    Protocol 3: the originals are Python 2 pickles; Python 3 can only write protocol 2 by routing
    bytes through _codecs.encode, a global the real files never use (and the loader refuses).
    """
    folder.mkdir(parents=True, exist_ok=True)
    train_x, train_y = make_images(N_TRAIN, (3, 32, 32), 3)
    test_x, test_y = make_images(N_TEST, (3, 32, 32), 4)
    per = N_TRAIN // 5
    for b in range(5):
        _dump(folder / f"data_batch_{b + 1}", train_x[b * per:(b + 1) * per], train_y[b * per:(b + 1) * per])
    _dump(folder / "test_batch", test_x, test_y)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": [c.encode() for c in CIFAR_CLASSES], b"num_vis": 3072}, f, protocol=3)
    return {"train_x": train_x, "train_y": train_y, "test_x": test_x, "test_y": test_y}


def _dump(path: Path, images: np.ndarray, labels: np.ndarray) -> None:
    entry = {b"batch_label": b"synthetic", b"labels": [int(v) for v in labels],
             b"data": images.reshape(len(images), -1), b"filenames": [b"x.png"] * len(images)}
    with open(path, "wb") as f:
        pickle.dump(entry, f, protocol=3)


def cifar_lists(folder: Path) -> dict:
    return {"train_list": [[f"data_batch_{b}", md5(folder / f"data_batch_{b}")] for b in range(1, 6)],
            "test_list": [["test_batch", md5(folder / "test_batch")]],
            "meta": {"filename": "batches.meta", "key": "label_names", "md5": md5(folder / "batches.meta")}}


def cifar_targz(folder: Path, out: Path) -> Path:
    """Packs `folder` the way the official cifar-10-python.tar.gz is packed."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(folder, arcname=folder.name)
    out.write_bytes(buf.getvalue())
    return out
