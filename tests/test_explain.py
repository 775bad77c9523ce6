"""Explanations checked against the networks themselves: the contribution sums must equal their logits."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from models import explain, kinds
from models.config import Normalization

SHAPES = {"gray": ((1, 28, 28), Normalization((0.1307,), (0.3081,))),
          "colour": ((3, 32, 32), Normalization((0.49, 0.48, 0.45), (0.25, 0.24, 0.26)))}


def random_image(shape, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def oracle_logits(model, image: np.ndarray, norm: Normalization) -> np.ndarray:
    """The network's own forward pass on the normalised image, as training and evaluation run it."""
    with torch.no_grad():
        x = (torch.as_tensor(image, dtype=torch.float32) / 255 - torch.tensor(norm.mean).view(-1, 1, 1)) \
            / torch.tensor(norm.std).view(-1, 1, 1)
        return model.eval()(x[None])[0].double().numpy()


@pytest.mark.parametrize("kind", SHAPES)
@pytest.mark.parametrize("seed", range(5))
def test_linear_contributions_sum_to_the_logits(kind, seed):
    shape, norm = SHAPES[kind]
    torch.manual_seed(seed)
    model = kinds.build("linear", shape, 10)
    image = random_image(shape, seed)
    ex = explain.linear(model, image, norm)
    logits = oracle_logits(model, image, norm)
    assert ex.maps.shape == (10, *shape[1:])
    assert np.allclose([ex.total(c) for c in range(10)], logits, atol=1e-4)
    assert np.allclose(ex.logits, logits, atol=1e-5)
    # A black pixel contributes nothing: the normalisation's offset lives in the bias.
    dark = image.copy()
    dark[:, :5] = 0
    assert np.all(explain.linear(model, dark, norm).maps[:, :5] == 0)


@pytest.mark.parametrize("kind", SHAPES)
@pytest.mark.parametrize("seed", range(5))
def test_mlp_unit_contributions_sum_to_the_logits(kind, seed):
    shape, norm = SHAPES[kind]
    torch.manual_seed(seed)
    model = kinds.build("mlp", shape, 10, hidden=10)
    image = random_image(shape, seed + 100)
    ex = explain.mlp(model, image, norm)
    logits = oracle_logits(model, image, norm)
    assert np.allclose([ex.total(c) for c in range(10)], logits, atol=1e-4)
    with torch.no_grad():
        x = (torch.as_tensor(image, dtype=torch.float32) / 255 - torch.tensor(norm.mean).view(-1, 1, 1)) \
            / torch.tensor(norm.std).view(-1, 1, 1)
        pre = model.hidden(x.flatten()[None])[0].double().numpy()
    assert np.allclose(ex.pre_activations, pre, atol=1e-4)
    assert np.allclose(ex.unit_bias + ex.unit_maps.reshape(10, -1).sum(1), pre, atol=1e-4)
    assert np.allclose(ex.activations, np.maximum(pre, 0), atol=1e-4)


def test_key_unit_is_the_one_that_widens_the_gap_most():
    contributions = np.zeros((3, 4))
    contributions[2] = [0.5, 3.0, 0.1, 2.0]  # predicted
    contributions[0] = [0.0, 2.9, 0.0, -1.0]  # reference: unit 4 (index 3) widens the gap by 3.0
    ex = explain.HiddenContributions(np.zeros(3), np.ones(4), np.ones(4), np.zeros(4), np.zeros((4, 2, 2)),
                                     np.zeros(3), contributions)
    assert ex.key_unit(2, 0) == 3


def test_cnn_gets_gradient_maps_for_prediction_and_reference():
    shape, norm = SHAPES["gray"]
    torch.manual_seed(0)
    model = kinds.build("cnn", shape, 10, widths=(8, 16))
    image = random_image(shape, 0)
    ex = kinds.get("cnn").explain(model, image, norm, actual=4)
    predicted = int(np.argmax(ex.logits))
    assert np.allclose(ex.logits, oracle_logits(model, image, norm), atol=1e-4)
    assert set(ex.maps) == {predicted, explain.reference_class(ex.logits, 4)}
    assert all(m.shape == shape[1:] and np.isfinite(m).all() for m in ex.maps.values())
    # Integrated Gradients by default: each map adds up to the score's rise from a black image, which it carries.
    assert ex.method == "ig"
    np.testing.assert_allclose(ex.black, oracle_logits(model, np.zeros_like(image), norm), atol=1e-4)
    for c, m in ex.maps.items():
        assert m.sum() == pytest.approx(ex.logits[c] - ex.black[c], rel=0.05, abs=0.05)
    assert kinds.get("cnn").explain(model, image, norm, actual=4, method="occlusion").black is None


def test_reference_is_the_true_class_when_wrong_else_the_runner_up():
    logits = np.array([0.1, 3.0, 2.0, -1.0])
    assert explain.reference_class(logits, 0) == 0
    assert explain.reference_class(logits, 1) == 2
    assert explain.reference_class(logits, None) == 2


@pytest.mark.parametrize("activation", kinds.ACTIVATIONS)
@pytest.mark.parametrize("seed", range(3))
def test_a_deep_nets_unit_shares_sum_to_its_logits(activation, seed):
    """Three hidden layers: the last layer's shares add up to the forward pass's logits, and the first
    layer's maps to its pre-activations."""
    shape, norm = SHAPES["gray"]
    torch.manual_seed(seed)
    model = kinds.build("mlp", shape, 10, hidden=(12, 7, 5), activation=activation)
    image = random_image(shape, seed)
    ex = explain.mlp(model, image, norm)
    logits = oracle_logits(model, image, norm)
    assert ex.deep and ex.unit_contributions.shape == (10, 5) and ex.unit_maps.shape == (12, 28, 28)
    for c in range(10):
        assert ex.total(c) == pytest.approx(logits[c], abs=1e-4)
    x = (torch.as_tensor(image, dtype=torch.float32) / 255 - norm.mean[0]) / norm.std[0]
    with torch.no_grad():
        first, *_, last = model.features(x[None])
        pre = model.hidden(x.flatten()[None])[0].double().numpy()
    assert np.allclose(ex.pre_activations, pre, atol=1e-4)
    assert np.allclose(ex.unit_bias + ex.unit_maps.reshape(12, -1).sum(1), pre, atol=1e-4)
    assert np.allclose(ex.first, first[0].numpy(), atol=1e-5) and np.allclose(ex.activations, last[0].numpy(), atol=1e-5)
