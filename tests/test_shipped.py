"""The shipped checkpoints (checkpoints/): the networks the page opens with, read as they are, no data needed.
Every shipped timeline shows a network learning, and the 1-layer nets keep their accuracy and template floors."""
from __future__ import annotations

import pytest

from models import checkpoint, timeline
from models.config import SHIPPED_DIR

# What issue 25 set: after the first half epoch no snapshot falls more than 1.5 points below the best before it.
MAX_FALL, AFTER_EPOCH = 0.015, 0.5
FLOORS = {"mnist": (0.925, 0.60), "fashion-mnist": (0.84, 0.53), "cifar10": (0.40, 0.39)}  # accuracy, likeness
TIMELINES = sorted(SHIPPED_DIR.glob("*.timeline.pt"))


def test_there_are_shipped_timelines():
    assert {p.name for p in TIMELINES} >= {f"{d}-linear.timeline.pt" for d in FLOORS}


@pytest.mark.parametrize("path", TIMELINES, ids=lambda p: p.name.removesuffix(".timeline.pt"))
def test_every_shipped_timeline_shows_learning(path):
    ckpt = checkpoint.load(path.with_name(path.name.replace(".timeline.pt", ".pt")))
    snaps = timeline.load(path, ckpt.id)
    assert snaps, f"{path.name} does not belong to its checkpoint"
    scored = [(s.epoch, s.accuracy) for s in snaps if s.accuracy is not None]
    scored.append((ckpt.config.epochs, ckpt.metrics["test_accuracy"]))
    best, falls = 0.0, []
    for epoch, accuracy in scored:
        if epoch >= AFTER_EPOCH and best - accuracy > MAX_FALL:
            falls.append(f"epoch {epoch:.2f}: {100 * accuracy:.1f}% after {100 * best:.1f}%")
        best = max(best, accuracy)
    assert not falls, f"{path.name}: " + "; ".join(falls)


@pytest.mark.parametrize("dataset", list(FLOORS))
def test_the_shipped_1_layer_nets_keep_their_floors(dataset):
    ckpt = checkpoint.load(SHIPPED_DIR / f"{dataset}-linear.pt")
    accuracy, likeness = FLOORS[dataset]
    assert ckpt.metrics["test_accuracy"] >= accuracy
    assert ckpt.metrics["template_correlation"] >= likeness
