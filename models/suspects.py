"""Likely label errors: test images whose given label every trained model rejects, all agreeing on another class.

In the spirit of confident learning (Northcutt et al.), only confident disagreement counts: an image
is suspect when every model puts at least `min_consensus` of its probability on the same class k,
which is not the label, and none gives the label more than `max_given`. Networks that are merely
unsure, or that disagree with each other, flag nothing. Suspects rank by the smallest margin,
p(k) - p(label), that any model leaves: the image all of them reject most firmly comes first.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np


@dataclass(frozen=True)
class Suspect:
    index: int  # test-set index
    given: int  # the label the dataset gives
    consensus: int  # the class every model chose
    given_probs: tuple[float, ...]  # each model's probability for the given label
    consensus_probs: tuple[float, ...]  # each model's probability for the consensus class
    score: float  # min over models of p(consensus) - p(given): higher is more suspicious


def likely_label_errors(labels: np.ndarray, probs_by_model: Sequence[np.ndarray], max_given: float = 0.1,
                        min_consensus: float = 0.5, limit: int | None = None) -> list[Suspect]:
    """Suspects among the rows of `labels`, most suspicious first; each model's probs is (N, classes)."""
    if not probs_by_model:
        return []
    labels = np.asarray(labels, dtype=np.int64)
    p = np.stack([np.asarray(m, dtype=np.float64) for m in probs_by_model])  # (models, N, classes)
    if p.shape[1] != len(labels):
        raise ValueError(f"{p.shape[1]} probability rows for {len(labels)} labels")
    rows = np.arange(len(labels))
    preds = p.argmax(2)
    consensus = preds[0]
    given = p[:, rows, labels]
    chosen = p[:, rows, consensus]
    flagged = ((preds == consensus).all(0) & (consensus != labels)
               & (chosen >= min_consensus).all(0) & (given <= max_given).all(0))
    score = (chosen - given).min(0)
    found = rows[flagged]
    found = found[np.lexsort((found, -score[found]))][:limit]
    return [Suspect(int(n), int(labels[n]), int(consensus[n]), tuple(map(float, given[:, n])),
                    tuple(map(float, chosen[:, n])), float(score[n])) for n in found]
