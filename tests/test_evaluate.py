"""Evaluation checked against plain-Python counting, as an independent oracle."""
from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from models.errors import DamagedCache
from models.evaluate import Evaluation

K = 4


@pytest.fixture
def ev() -> Evaluation:
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(500, K)) + 2 * np.eye(K)[rng.integers(0, K, 500)]
    probs = (np.exp(logits) / np.exp(logits).sum(1, keepdims=True)).astype(np.float32)
    labels = rng.integers(0, K - 1, 500)  # the last class never occurs: recall is undefined there
    return Evaluation("mnist", "linear", tuple("abcd"), "id1", labels, probs)


def test_confusion_precision_recall_match_counting(ev):
    preds = [int(np.argmax(p)) for p in ev.probs]
    counts = Counter(zip(ev.labels.tolist(), preds))
    for i in range(K):
        for j in range(K):
            assert ev.confusion[i, j] == counts[(i, j)]
        predicted_j = sum(1 for p in preds if p == i)
        actual_i = sum(1 for y in ev.labels if y == i)
        expect_p = counts[(i, i)] / predicted_j if predicted_j else None
        expect_r = counts[(i, i)] / actual_i if actual_i else None
        assert (np.isnan(ev.precision[i]) if expect_p is None else ev.precision[i] == pytest.approx(expect_p))
        assert (np.isnan(ev.recall[i]) if expect_r is None else ev.recall[i] == pytest.approx(expect_r))
    assert ev.accuracy == pytest.approx(sum(counts[(i, i)] for i in range(K)) / len(preds))


def test_cells_hold_every_sample_once_most_confident_first(ev):
    seen = []
    for i in range(K):
        for j in range(K):
            idx = ev.cell(i, j)
            assert len(idx) == ev.confusion[i, j]
            assert all(ev.labels[n] == i and ev.probs[n].argmax() == j for n in idx)
            conf = ev.probs[idx, j]
            assert np.all(np.diff(conf) <= 0)
            seen.extend(idx.tolist())
    assert sorted(seen) == list(range(ev.n))


def test_ties_are_broken_by_index():
    probs = np.full((6, 2), 0.5, dtype=np.float32)
    probs[:, 0] += 0.1
    ev = Evaluation("mnist", "mlp", ("x", "y"), "id", np.zeros(6, dtype=np.int64), probs)
    assert ev.cell(0, 0).tolist() == [0, 1, 2, 3, 4, 5]


def test_top_per_cell_and_out_of_range(ev):
    top = ev.top_per_cell()
    for i in range(K):
        for j in range(K):
            cell = ev.cell(i, j)
            assert top[i, j] == (cell[0] if len(cell) else -1)
    with pytest.raises(IndexError):
        ev.cell(K, 0)
    with pytest.raises(IndexError):
        ev.cell(0, -1)


def test_summary_is_plain_json(ev):
    import json
    s = json.loads(json.dumps(ev.summary()))
    assert s["n"] == 500 and s["classes"] == list("abcd")
    assert [sum(r) for r in s["confusion"]] == np.bincount(ev.labels, minlength=K).tolist()
    assert s["recall"][3] is None


def test_cache_round_trip_and_staleness(ev, tmp_path):
    path = tmp_path / "e.npz"
    ev.save(path)
    back = Evaluation.load(path, "id1")
    assert np.array_equal(back.probs, ev.probs) and back.classes == ev.classes
    assert np.array_equal(back.cell(1, 2), ev.cell(1, 2))
    assert Evaluation.load(path, "another-checkpoint") is None
    assert Evaluation.load(tmp_path / "absent.npz", "id1") is None
    whole = path.read_bytes()
    bad_shape = tmp_path / "shape.npz"
    np.savez(bad_shape, probs=ev.probs[:5], labels=ev.labels, classes=np.array(ev.classes),
             checkpoint_id=np.array("id1"), dataset=np.array(ev.dataset), arch=np.array(ev.arch))
    for damaged in (whole[:len(whole) // 2], b"not an npz", bad_shape.read_bytes()):
        path.write_bytes(damaged)  # truncated, not a zip, probabilities that do not match the labels
        with pytest.raises(DamagedCache, match="e.npz is damaged"):
            Evaluation.load(path, "id1")


def test_sort_orders_on_constructed_probabilities():
    # Five images, all labelled 0 and predicted 1; the orders worked out by hand.
    probs = np.array([[0.30, 0.60, 0.10],   # 0: margin .30
                      [0.05, 0.90, 0.05],   # 1: the most confident, the least like its label
                      [0.45, 0.50, 0.05],   # 2: the closest call
                      [0.20, 0.60, 0.20],   # 3: ties 0 on predicted probability, margin .40
                      [0.30, 0.40, 0.30]],  # 4: ties 0 on true-class probability, margin .10
                     dtype=np.float32)
    ev = Evaluation("mnist", "linear", ("a", "b", "c"), "id", np.zeros(5, dtype=np.int64), probs)
    by_pred, keys = ev.sorted_cell(0, 1, "predicted")
    assert by_pred.tolist() == [1, 0, 3, 2, 4] and np.allclose(keys, [0.9, 0.6, 0.6, 0.5, 0.4])
    by_true, keys = ev.sorted_cell(0, 1, "true")
    assert by_true.tolist() == [1, 3, 0, 4, 2] and np.allclose(keys, [0.05, 0.2, 0.3, 0.3, 0.45])
    by_margin, keys = ev.sorted_cell(0, 1, "margin")
    assert by_margin.tolist() == [2, 4, 0, 3, 1] and np.allclose(keys, [0.05, 0.1, 0.3, 0.4, 0.85])
    empty, keys = ev.sorted_cell(2, 2, "margin")
    assert len(empty) == 0 and len(keys) == 0
    with pytest.raises(ValueError):
        ev.sorted_cell(0, 1, "random")


def test_sort_orders_agree_with_a_plain_sort(ev):
    for a in range(K):
        for p in range(K):
            members = [n for n in range(ev.n) if ev.labels[n] == a and ev.probs[n].argmax() == p]
            got, _ = ev.sorted_cell(a, p, "true")
            assert got.tolist() == sorted(members, key=lambda n: (ev.probs[n, a], n))
            top2 = {n: sorted(ev.probs[n])[-2:] for n in members}
            got, _ = ev.sorted_cell(a, p, "margin")
            assert got.tolist() == sorted(members, key=lambda n: (top2[n][1] - top2[n][0], n))
