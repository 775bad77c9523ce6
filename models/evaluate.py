"""Evaluation over the test split in its fixed order: probabilities, confusion, precision/recall, sorted cells."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import DamagedCache
from .files import atomic_write


SORTS = ("predicted", "true", "margin")


@dataclass(frozen=True)
class Evaluation:
    """Row i of every array is sample i of torchvision's test split."""
    dataset: str
    arch: str
    classes: tuple[str, ...]
    checkpoint_id: str
    labels: np.ndarray  # int64 (N,)
    probs: np.ndarray  # float32 (N, classes)
    split: str = "test"
    preds: np.ndarray = field(init=False, repr=False)
    confidence: np.ndarray = field(init=False, repr=False)  # probability of the predicted class
    confusion: np.ndarray = field(init=False, repr=False)  # (classes, classes), rows actual
    _order: np.ndarray = field(init=False, repr=False)  # sample indices grouped by cell, most confident first
    _offsets: np.ndarray = field(init=False, repr=False)  # cell c's indices are _order[_offsets[c]:_offsets[c+1]]

    def __post_init__(self):
        k = len(self.classes)
        if self.probs.ndim != 2 or self.probs.shape != (len(self.labels), k):
            raise ValueError(f"probabilities of shape {self.probs.shape} do not match {len(self.labels)} "
                             f"labels and {k} classes")
        preds = self.probs.argmax(1)
        confidence = self.probs[np.arange(len(preds)), preds]
        cell = self.labels * k + preds
        # Within a cell: highest confidence first, ties broken by test-set index so the order is stable.
        order = np.lexsort((np.arange(len(preds)), -confidence, cell))
        counts = np.bincount(cell, minlength=k * k)
        for name, value in (("preds", preds), ("confidence", confidence),
                            ("confusion", counts.reshape(k, k)), ("_order", order),
                            ("_offsets", np.concatenate([[0], np.cumsum(counts)]))):
            object.__setattr__(self, name, value)

    @property
    def n(self) -> int:
        return len(self.labels)

    @property
    def accuracy(self) -> float:
        return float(np.trace(self.confusion) / max(1, self.n))

    @property
    def precision(self) -> np.ndarray:
        """Per predicted class: the share of its predictions that were right (nan if never predicted)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.diag(self.confusion) / self.confusion.sum(0)

    @property
    def recall(self) -> np.ndarray:
        """Per actual class: the share of its samples predicted right (nan if absent)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.diag(self.confusion) / self.confusion.sum(1)

    def cell(self, actual: int, predicted: int) -> np.ndarray:
        """Test-set indices with this label and prediction, most confident first."""
        k = len(self.classes)
        if not (0 <= actual < k and 0 <= predicted < k):
            raise IndexError(f"cell ({actual}, {predicted}) is outside the {k}x{k} matrix")
        c = actual * k + predicted
        return self._order[self._offsets[c]:self._offsets[c + 1]]

    def sorted_cell(self, actual: int, predicted: int, by: str = "predicted") -> tuple[np.ndarray, np.ndarray]:
        """A cell's indices in one of SORTS' orders, with the value each was sorted by; ties by index.

        predicted: probability of the predicted class, highest first (the default view);
        true: probability of the true class, lowest first (what the network was surest was not its label);
        margin: top-1 minus top-2 probability, smallest first (the most ambiguous).
        """
        indices = self.cell(actual, predicted)
        if by == "predicted":  # a cell is kept in this order already
            return indices, self.confidence[indices]
        return self.sort(indices, by)

    def sort(self, indices, by: str = "predicted") -> tuple[np.ndarray, np.ndarray]:
        """Any test images (a selection on the map) in one of SORTS' orders, as `sorted_cell`; ties by index."""
        indices = np.asarray(indices, dtype=np.int64)
        if by == "predicted":
            key = self.confidence[indices]
            order = np.lexsort((indices, -key))
        elif by == "true":
            key = self.probs[indices, self.labels[indices]]
            order = np.lexsort((indices, key))
        elif by == "margin":
            top2 = np.sort(self.probs[indices], axis=1)[:, -2:] if len(indices) else np.zeros((0, 2))
            key = top2[:, 1] - top2[:, 0]
            order = np.lexsort((indices, key))
        else:
            raise ValueError(f"unknown sort {by!r}: choose one of {', '.join(SORTS)}")
        return indices[order], key[order]

    def top_per_cell(self) -> np.ndarray:
        """The most confident sample of every cell, (classes, classes), -1 where a cell is empty."""
        k = len(self.classes)
        starts, ends = self._offsets[:-1], self._offsets[1:]
        top = np.where(ends > starts, self._order[np.minimum(starts, len(self._order) - 1)], -1)
        return top.reshape(k, k)

    def summary(self) -> dict:
        """The JSON the CLI prints: plain numbers, null where a ratio is undefined."""
        def clean(values):
            return [None if np.isnan(v) else round(float(v), 6) for v in values]
        return {"dataset": self.dataset, "arch": self.arch, "split": self.split, "n": self.n,
                "accuracy": round(self.accuracy, 6), "classes": list(self.classes),
                "confusion": self.confusion.tolist(), "precision": clean(self.precision),
                "recall": clean(self.recall)}

    def save(self, path: Path) -> None:
        """Cache to disk (atomically); float16 would lose the ordering of near-ties, so keep float32."""
        atomic_write(path, lambda f: np.savez(
            f, probs=self.probs, labels=self.labels, classes=np.array(self.classes),
            checkpoint_id=np.array(self.checkpoint_id), dataset=np.array(self.dataset), arch=np.array(self.arch)))

    @classmethod
    def load(cls, path: Path, checkpoint_id: str) -> "Evaluation | None":
        """The cached evaluation of this checkpoint, or None if absent or stale.

        A file that is there but unreadable (truncated, not a zip, wrong shapes) raises DamagedCache,
        so that the caller recomputes it and can say so.
        """
        try:
            with np.load(path, allow_pickle=False) as z:
                if str(z["checkpoint_id"]) != checkpoint_id:
                    return None
                return cls(dataset=str(z["dataset"]), arch=str(z["arch"]),
                           classes=tuple(str(c) for c in z["classes"]), checkpoint_id=checkpoint_id,
                           labels=z["labels"].astype(np.int64), probs=z["probs"].astype(np.float32))
        except FileNotFoundError:
            return None
        except Exception as e:  # zipfile.BadZipFile, EOFError, KeyError, shape ValueError, ...
            raise DamagedCache(f"the cached evaluation {path.name} is damaged ({type(e).__name__})") from None
