"""models/adversarial.py: the smallest change that fools a network, exact for the 1-layer net (checked against a
general solver) and searched for the others (checked to flip the prediction within the pixel range)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.optimize import minimize

from models import adversarial
from models.config import Normalization
from models.nets import MLP, LinearNet

NORM = Normalization((0.3,), (0.3,))


def general_solver(weights, bias, x, target, margin=adversarial.MARGIN):
    """The same QP handed to scipy's SLSQP as it stands: no dual, no clipping trick."""
    others = [c for c in range(len(weights)) if c != target]
    cons = [{"type": "ineq", "fun": (lambda d, c=c: (weights[target] - weights[c]) @ (x + d) + bias[target] - bias[c]
                                     - margin), "jac": (lambda d, c=c: weights[target] - weights[c])} for c in others]
    found = minimize(lambda d: d @ d, np.zeros_like(x), jac=lambda d: 2 * d, constraints=cons,
                     bounds=list(zip(-x, 1 - x)), method="SLSQP", options={"maxiter": 500, "ftol": 1e-12})
    assert found.success, found.message
    return found.x


@pytest.mark.parametrize("seed", range(5))
def test_the_linear_change_is_the_qps_minimum(seed):
    rng = np.random.default_rng(seed)
    w, b = rng.normal(size=(10, 64)), rng.normal(size=10)
    x = rng.uniform(0, 1, 64)
    predicted = int(np.argmax(w @ x + b))
    for target in [t for t in range(10) if t != predicted][:4]:
        exact = adversarial.linear_change(w, b, x, target)
        oracle = general_solver(w, b, x, target)
        assert exact is not None
        assert np.linalg.norm(exact) == pytest.approx(np.linalg.norm(oracle), rel=0.01)
        z = w @ (x + exact) + b
        assert int(np.argmax(z)) == target and np.all(x + exact >= -1e-12) and np.all(x + exact <= 1 + 1e-12)


def test_a_class_the_box_cannot_reach_is_none():
    w = np.zeros((3, 4))
    w[1] = 1.0  # class 1 grows with every pixel; class 0 never loses to it on a black image... unless it can
    b = np.array([10.0, 0.0, 0.0])  # a bias no image in range overcomes: z_1 <= 4 < 10
    assert adversarial.linear_change(w, b, np.zeros(4), 1) is None


def test_fooling_the_1_layer_net_is_exact_and_the_nearest_class_is_the_smallest():
    torch.manual_seed(0)
    model = LinearNet((1, 8, 8), 10).eval()
    image = (np.random.default_rng(1).uniform(0, 1, (1, 8, 8)) * 255).astype(np.uint8)
    nearest = adversarial.fool(model, image, NORM)
    assert nearest.exact and nearest.fooled and nearest.size > 0
    sizes = [adversarial.fool(model, image, NORM, t) for t in range(10)]
    assert nearest.size == pytest.approx(min(s.size for s in sizes if s is not None), rel=1e-6)
    assert np.all(nearest.changed >= -1e-9) and np.all(nearest.changed <= 1 + 1e-9)
    assert 0 < nearest.pixels <= 64


def test_a_searched_change_flips_an_mlp_within_the_pixel_range():
    torch.manual_seed(0)
    model = MLP((1, 8, 8), 10, hidden=(16,)).eval()
    image = (np.random.default_rng(2).uniform(0, 1, (1, 8, 8)) * 255).astype(np.uint8)
    found = adversarial.fool(model, image, NORM)
    assert found is not None and not found.exact and found.fooled
    assert np.all(found.changed >= 0) and np.all(found.changed <= 1)
    assert found.size > 0  # a search gives an upper bound on the smallest change, so nothing exact to compare


def test_a_search_in_a_request_keeps_to_its_budget():
    """The page's in-request search (a drawing's) stops at its budget however many classes it has left."""
    import time
    torch.manual_seed(0)
    model = MLP((1, 8, 8), 10, hidden=(16,)).eval()
    image = (np.random.default_rng(2).uniform(0, 1, (1, 8, 8)) * 255).astype(np.uint8)
    for target in (None, 3):
        started = time.monotonic()
        adversarial.fool(model, image, NORM, target, budget=0.3)
        assert time.monotonic() - started < 1.5
