"""How far to trust a network's confidence: the reliability diagram, the expected calibration error, and
temperature scaling fitted on a slice of the training split (never on the test split it is judged on).

ECE = Σ_b (n_b / N) · |accuracy_b − confidence_b| over BINS equal-width bins of the top probability (Guo et
al., 2017). Temperature scaling divides the logits by one T > 0, chosen to minimise the negative
log-likelihood of the held-out slice; it changes the confidence of every answer and none of the answers.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .config import Normalization

BINS = 15
HELD_OUT = 5_000  # the training split's last images, where the temperature is fitted


@dataclass(frozen=True)
class Bin:
    lo: float
    hi: float
    count: int
    confidence: float  # mean top probability of its images (NaN when empty)
    accuracy: float  # share of its images answered right (NaN when empty)


def bins(probs: np.ndarray, labels: np.ndarray, n: int = BINS) -> list[Bin]:
    """The reliability diagram's bins: images by their top probability in n equal-width bins of (0, 1]."""
    confidence = probs.max(1).astype(np.float64)
    right = probs.argmax(1) == np.asarray(labels)
    # Bin b holds confidences in (b/n, (b+1)/n]; a confidence of exactly 0 (impossible for softmax) joins bin 0.
    which = np.clip(np.ceil(confidence * n).astype(int) - 1, 0, n - 1)
    found = []
    for b in range(n):
        members = which == b
        count = int(members.sum())
        found.append(Bin(b / n, (b + 1) / n, count,
                         float(confidence[members].mean()) if count else float("nan"),
                         float(right[members].mean()) if count else float("nan")))
    return found


def ece(probs: np.ndarray, labels: np.ndarray, n: int = BINS) -> float:
    """The expected calibration error over n equal-width bins."""
    total = len(labels)
    return float(sum(b.count / total * abs(b.accuracy - b.confidence) for b in bins(probs, labels, n) if b.count))


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = z - z.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The T > 0 that minimises the negative log-likelihood of softmax(logits / T) on these labels."""
    from scipy.optimize import minimize_scalar  # here, not at import: scipy costs a web worker's start ~0.3 s

    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(labels)

    def nll(log_t: float) -> float:
        scaled = z / np.exp(log_t)
        scaled = scaled - scaled.max(1, keepdims=True)
        return float(-(scaled[np.arange(len(y)), y] - np.log(np.exp(scaled).sum(1))).mean())
    found = minimize_scalar(nll, bounds=(np.log(0.05), np.log(20.0)), method="bounded", options={"xatol": 1e-6})
    return float(np.exp(found.x))


@torch.no_grad()
def logits_of(model: nn.Module, images: torch.Tensor, norm: Normalization, device: str = "cpu",
              batch: int = 1000) -> np.ndarray:
    """The network's logits for uint8 images, float64 (N, classes)."""
    model.eval()
    return torch.cat([model(norm.apply(chunk.to(device))).double().cpu() for chunk in images.split(batch)]).numpy()


def held_out(train_images: torch.Tensor, train_labels: torch.Tensor, size: int = HELD_OUT):
    """The slice of the training split the temperature is fitted on: its last `size` images."""
    return train_images[-size:], train_labels[-size:].numpy()


def report(test_logits: np.ndarray, test_labels: np.ndarray, temperature: float, n: int = BINS) -> dict:
    """What the card and the command line print: the bins and ECE before scaling, T, and the ECE after."""
    before = softmax(test_logits)
    after = softmax(test_logits, temperature)
    return {"ece": ece(before, test_labels, n),
            "bins": _plain(bins(before, test_labels, n)),
            "temperature": temperature, "ece_scaled": ece(after, test_labels, n),
            "bins_scaled": _plain(bins(after, test_labels, n))}


def _plain(found: list[Bin]) -> list[dict]:
    """Bins as JSON: an empty bin's confidence and accuracy are null, not NaN."""
    return [{"lo": b.lo, "hi": b.hi, "count": b.count, "confidence": b.confidence if b.count else None,
             "accuracy": b.accuracy if b.count else None} for b in found]
