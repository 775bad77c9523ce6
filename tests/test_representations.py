"""app/representations.py: the layers of a network whose passes run in the request (models.kinds.Pass.REQUEST),
written once to files every process maps, and units switched off exactly, by either of a kind's strategies."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from app.representations import MAPS, result_path
from models import layers
from models.kinds import Pass
from tests.conftest import quick_service


@pytest.fixture(scope="module")
def mlp(tmp_path_factory):
    with quick_service(tmp_path_factory.mktemp("representations"), (("mnist", "mlp"),)) as service:
        yield service, service.view("mnist", "mlp")


def test_layers_are_computed_in_the_request_and_written_once(mlp):
    service, view = mlp
    reps, ckpt = service.representations, view.checkpoint
    assert view.kind.maps is Pass.REQUEST and reps.ready(view)
    want = layers.features(ckpt.model, view.images.images, ckpt.normalization)
    np.testing.assert_allclose(reps.layer(view, "hidden1"), want["hidden1"], rtol=1e-5, atol=1e-6)
    path = result_path(service.settings.model_dir, "mnist", "mlp", ckpt.id, "test", "hidden1")
    assert path.exists()  # mapped by every process from here on
    np.testing.assert_allclose(reps.layer(view, layers.INPUT), layers.pixels(view.images.images).numpy())
    coords, explained = reps.pca(view, layers.INPUT)
    assert coords.shape == (view.evaluation.n, 2) and (service.settings.model_dir / MAPS / "mnist-input-pca.npz").exists()
    assert 0 < explained[0] <= 1 and explained[0] >= explained[1]
    assert not reps.has(view, "pooled") and reps.has(view, "logits")


def zeroed_copy(model, units):
    broken = copy.deepcopy(model).eval()
    with torch.no_grad():
        broken.outgoing()[:, list(units)] = 0
    return broken


def test_units_switched_off_by_either_strategy_equal_the_oracle(mlp, monkeypatch):
    service, view = mlp
    ckpt = view.checkpoint
    with torch.no_grad():
        want = torch.softmax(zeroed_copy(ckpt.model, (1, 3))(ckpt.normalization.apply(view.images.images)), 1).numpy()
    fast = service.representations.switched(view, (1, 3))  # from the kept first layer, going on from there
    np.testing.assert_allclose(fast.probs, want, rtol=1e-5, atol=1e-6)
    site = ckpt.model.units()
    monkeypatch.setattr(type(ckpt.model), "units", lambda self: type(site)(site.module, site.axis, site.count))
    slow = service.representations.switched(view, (0, 2))  # no `onward`: one pass with a hook
    with torch.no_grad():
        want = torch.softmax(zeroed_copy(ckpt.model, (0, 2))(ckpt.normalization.apply(view.images.images)), 1).numpy()
    np.testing.assert_allclose(slow.probs, want, rtol=1e-5, atol=1e-6)
    assert not np.allclose(fast.probs, view.evaluation.probs)  # switching them off changed the network
