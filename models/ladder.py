"""How much do hidden layers buy? The ladder of fully connected nets the chapter's question is answered with.

Accuracy against width (one hidden layer of 1 to 200 ReLU units) and against depth (1 to 3 hidden
layers of 100). Every point is a checkpoint of its own, trained with its shape's defaults; the
10-unit point is the chapter's 2-layer net itself.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from . import checkpoint, kinds
from .errors import LookInsideError
from .zoo import Zoo

WIDTHS = (1, 2, 5, 10, 20, 50, 100, 200)
DEPTH_WIDTH, DEPTHS = 100, (1, 2, 3)
# What the chapter reports for its 2-layer net (drawn as reference marks), by dataset.
CHAPTER = {"mnist": 0.90, "cifar10": 0.37}


def by_width() -> list[str]:
    return [kinds.fully_connected((w,)) for w in WIDTHS]


def by_depth() -> list[str]:
    return [kinds.fully_connected((DEPTH_WIDTH,) * d) for d in DEPTHS]


def networks() -> list[str]:
    """Every network on the ladder, in the order they are trained (cheapest first)."""
    return list(dict.fromkeys([*by_width(), *by_depth()]))


@dataclass(frozen=True)
class Point:
    network: str
    widths: tuple[int, ...]
    accuracy: float
    seconds: float


def points(zoo: Zoo, dataset: str) -> list[Point]:
    """The ladder's networks of `dataset` that have a readable checkpoint, with their test accuracy and
    training time (as recorded when they were trained).

    Read straight from the files, not through `zoo.load`: its cache of 32 loaded networks holds the
    ones visitors look at, and the ladder's 30 would push them out at every page's first draw."""
    found = []
    for network in networks():
        try:
            ckpt = checkpoint.load(zoo.stored_path(dataset, network), dataset=dataset, arch=kinds.MLP_KIND.name)
        except LookInsideError:
            continue
        accuracy: Optional[float] = ckpt.metrics.get("test_accuracy")
        if accuracy is not None:
            found.append(Point(network, tuple(ckpt.model.widths), float(accuracy),
                               float(ckpt.metrics.get("train_seconds", 0.0))))
    return found


def missing(zoo: Zoo, dataset: str) -> list[str]:
    """The ladder's networks of `dataset` without a checkpoint yet."""
    return [n for n in networks() if not zoo.has_checkpoint(dataset, n)]
