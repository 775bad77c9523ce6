"""Two evaluations of the same test split side by side: how the confusion changed, and which images moved."""
from __future__ import annotations

import numpy as np

from .evaluate import Evaluation


def check_comparable(a: Evaluation, b: Evaluation) -> None:
    if a.dataset != b.dataset or len(a.labels) != len(b.labels) or not np.array_equal(a.labels, b.labels):
        raise ValueError(f"cannot compare {a.dataset} with {b.dataset}: not the same test images")


def difference(a: Evaluation, b: Evaluation) -> np.ndarray:
    """B's confusion counts minus A's: positive where B puts more images, negative where fewer."""
    check_comparable(a, b)
    return b.confusion.astype(np.int64) - a.confusion.astype(np.int64)


def moved(a: Evaluation, b: Evaluation, actual: int, predicted: int) -> tuple[np.ndarray, np.ndarray]:
    """Images of class `actual` that B predicts as `predicted` and A did not (into the cell), and the
    reverse (out of it); into sorted by B's confidence, out by A's, most confident first, ties by index."""
    check_comparable(a, b)
    label = a.labels == actual
    into = np.flatnonzero(label & (b.preds == predicted) & (a.preds != predicted))
    out = np.flatnonzero(label & (a.preds == predicted) & (b.preds != predicted))
    into = into[np.lexsort((into, -b.probs[into, predicted]))]
    out = out[np.lexsort((out, -a.probs[out, predicted]))]
    return into, out
