"""Likely label errors: planted wrong labels must rank at the top, hard but honest images must not."""
from __future__ import annotations

import numpy as np

from models.suspects import likely_label_errors
from tests.conftest import quick_trained

K = 10


def softmax(z):
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def model_probs(truth: np.ndarray, rng, strength: float, hard: np.ndarray) -> np.ndarray:
    """A model that is usually right about the true class, and unsure on the `hard` rows."""
    z = rng.normal(0, 1, (len(truth), K))
    z[np.arange(len(truth)), truth] += strength
    z[hard] = rng.normal(0, 0.3, (len(hard), K))
    return softmax(z)


def test_planted_label_errors_rank_first():
    rng = np.random.default_rng(0)
    truth = rng.integers(0, K, 2000)
    planted = rng.choice(2000, 15, replace=False)
    given = truth.copy()
    given[planted] = (truth[planted] + rng.integers(1, K, 15)) % K  # always another class
    hard = np.setdiff1d(rng.choice(2000, 40, replace=False), planted)  # the models are unsure: not suspects
    models = [model_probs(truth, rng, s, hard) for s in (6.0, 7.0, 8.0)]
    found = likely_label_errors(given, models)
    assert {s.index for s in found[:15]} == set(planted.tolist())
    top = found[0]
    assert top.given == given[top.index] and top.consensus == truth[top.index]
    assert len(top.given_probs) == 3 and max(top.given_probs) <= 0.1
    assert [s.score for s in found] == sorted((s.score for s in found), reverse=True)
    assert not {s.index for s in found} & set(hard.tolist())


def test_models_that_disagree_flag_nothing():
    labels = np.array([0, 1, 2])
    a = np.array([[0.02, 0.96, 0.02], [0.02, 0.96, 0.02], [0.02, 0.02, 0.96]])
    b = np.array([[0.02, 0.02, 0.96], [0.02, 0.96, 0.02], [0.02, 0.02, 0.96]])  # says 2 where a says 1
    assert [s.index for s in likely_label_errors(labels, [a])] == [0]
    assert likely_label_errors(labels, [a, b]) == []
    assert likely_label_errors(labels, []) == []


def test_unsure_models_flag_nothing():
    labels = np.array([0])
    unsure = np.array([[0.05, 0.47, 0.48]])  # rejects the label, but gives no class half its belief
    assert likely_label_errors(labels, [unsure]) == []
    assert likely_label_errors(labels, [unsure], min_consensus=0.4)[0].consensus == 2


def test_wrong_labels_planted_in_real_model_outputs_rank_first(tmp_path):
    # Two networks trained on the synthetic images; then some test labels are changed behind their backs.
    with quick_trained(tmp_path, [("mnist", "linear"), ("mnist", "mlp")]) as (_, zoo):
        evaluations = [zoo.evaluation("mnist", arch) for arch in ("linear", "mlp")]
    labels = evaluations[0].labels.copy()
    # Plant errors only where both networks are sure and right, as they are on a clean, easy image.
    sure = np.flatnonzero(np.all([(ev.preds == labels) & (ev.confidence > 0.9) for ev in evaluations], axis=0))
    assert len(sure) >= 10, "the quick networks should be sure about most synthetic images"
    planted = sure[:: max(1, len(sure) // 5)][:5]
    labels[planted] = (labels[planted] + 3) % K
    found = likely_label_errors(labels, [ev.probs for ev in evaluations])
    assert {s.index for s in found[:len(planted)]} == set(planted.tolist())
