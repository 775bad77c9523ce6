"""Model comparison checked against plain counting."""
from __future__ import annotations

import numpy as np
import pytest

from models.compare import difference, moved
from models.evaluate import Evaluation

K = 4


def evaluation(seed: int, labels: np.ndarray, name: str = "a") -> Evaluation:
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(len(labels), K)) + 1.5 * np.eye(K)[labels]
    probs = (np.exp(logits) / np.exp(logits).sum(1, keepdims=True)).astype(np.float32)
    return Evaluation("mnist", name, tuple("wxyz"), name, labels, probs)


@pytest.fixture
def pair():
    labels = np.random.default_rng(0).integers(0, K, 400)
    return evaluation(1, labels, "a"), evaluation(2, labels, "b")


def test_difference_is_b_minus_a_and_rows_balance(pair):
    a, b = pair
    diff = difference(a, b)
    for i in range(K):
        for j in range(K):
            count_a = sum(1 for n in range(a.n) if a.labels[n] == i and a.probs[n].argmax() == j)
            count_b = sum(1 for n in range(b.n) if b.labels[n] == i and b.probs[n].argmax() == j)
            assert diff[i, j] == count_b - count_a
    assert np.all(diff.sum(1) == 0)  # the same images, only moved between cells of their row
    assert np.all(difference(a, a) == 0)


def test_moved_images_in_and_out_of_a_cell(pair):
    a, b = pair
    for i in range(K):
        for j in range(K):
            into, out = moved(a, b, i, j)
            expect_in = [n for n in range(a.n) if a.labels[n] == i and b.preds[n] == j and a.preds[n] != j]
            expect_out = [n for n in range(a.n) if a.labels[n] == i and a.preds[n] == j and b.preds[n] != j]
            assert into.tolist() == sorted(expect_in, key=lambda n: (-b.probs[n, j], n))
            assert out.tolist() == sorted(expect_out, key=lambda n: (-a.probs[n, j], n))
            assert len(into) - len(out) == difference(a, b)[i, j]


def test_different_test_sets_are_refused(pair):
    a, _ = pair
    other = evaluation(3, np.roll(a.labels, 1))
    with pytest.raises(ValueError):
        difference(a, other)
