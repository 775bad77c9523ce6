"""models/saliency.py: Captum's maps on 0..1 pixels, checked where an exact answer exists, and Adebayo's
randomisation cascade."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from models import explain, kinds, saliency
from models.errors import ConfigError
from tests.test_explain import SHAPES, oracle_logits, random_image


@pytest.mark.parametrize("shape_name", SHAPES)
@pytest.mark.parametrize("method", ["gradxinput", "ig"])
def test_on_a_linear_net_the_exact_methods_give_the_exact_map(shape_name, method):
    """x × w is the gradient times the input, and the path integral from black of a linear score."""
    shape, norm = SHAPES[shape_name]
    torch.manual_seed(1)
    model = kinds.build("linear", shape, 10)
    image = random_image(shape, 1)
    exact = explain.linear(model, image, norm)
    for c in (2, 7):
        np.testing.assert_allclose(saliency.attribute(model, image, norm, c, method), exact.maps[c], atol=2e-4)


def test_integrated_gradients_add_up_to_the_score_above_a_black_image():
    shape, norm = SHAPES["gray"]
    torch.manual_seed(0)
    model = kinds.build("cnn", shape, 10, widths=(8, 16))
    image = random_image(shape, 0)
    black = np.zeros_like(image)
    gap = oracle_logits(model, image, norm)[3] - oracle_logits(model, black, norm)[3]
    found = saliency.attribute(model, image, norm, 3, "ig")
    assert found.sum() == pytest.approx(gap, rel=0.05, abs=0.05)


def test_occlusion_credits_the_pixels_whose_covering_lowers_the_score():
    """A 1-layer net that reads only the top-left corner: blacking out anything else changes nothing."""
    shape, norm = SHAPES["gray"]
    model = kinds.build("linear", shape, 2, init="zeros")
    with torch.no_grad():
        model.fc.weight.view(2, 28, 28)[0, :4, :4] = 1.0
    image = np.full(shape, 200, dtype=np.uint8)
    found = saliency.attribute(model, image, norm, 0, "occlusion")
    assert found[:4, :4].min() > 0 and np.abs(found[12:, 12:]).max() < 1e-4


def test_grad_cam_is_for_convnets_and_forged_methods_get_a_sentence():
    shape, norm = SHAPES["gray"]
    cnn, mlp = kinds.build("cnn", shape, 10, widths=(8, 16)), kinds.build("mlp", shape, 10)
    assert "gradcam" in saliency.methods(cnn) and "gradcam" not in saliency.methods(mlp)
    cam = saliency.attribute(cnn, random_image(shape, 2), norm, 1, "gradcam")
    assert cam.shape == shape[1:] and cam.min() >= 0
    assert not any(m._forward_hooks for m in cnn.modules())  # Captum's hook went on a private copy
    with pytest.raises(ConfigError, match="needs a convolution layer"):
        saliency.attribute(mlp, random_image(shape, 2), norm, 1, "gradcam")
    for forged in ("lime", None, ["ig"]):
        with pytest.raises(ConfigError, match="There is no attribution method"):
            saliency.check_method(cnn, forged)


def test_the_cascade_randomises_from_the_class_scores_down():
    shape, norm = SHAPES["gray"]
    torch.manual_seed(0)
    model = kinds.build("mlp", shape, 10, hidden=(12, 8))
    first = saliency.randomised(model, 1)  # the class scores only
    assert torch.equal(first.hidden.weight, model.hidden.weight) and not torch.equal(first.out.weight, model.out.weight)
    every = saliency.randomised(model, 3)
    assert not torch.equal(every.hidden.weight, model.hidden.weight)
    assert torch.equal(saliency.randomised(model, 2).out.weight, first.out.weight)  # one seed: the same draws
    torch.manual_seed(123)  # whatever the global generator holds
    assert torch.equal(saliency.randomised(model, 1).out.weight, first.out.weight)
    check = saliency.cascade(model, random_image(shape, 0), norm, 4, "gradxinput")
    assert [s.title for s in check.steps] == ["class scores randomised", "down to hidden layer 2 randomised",
                                              "every layer randomised"]
    again = saliency.attribute(saliency.randomised(model, 2), random_image(shape, 0), norm, 4, "gradxinput")
    np.testing.assert_allclose(check.steps[1].map, again)
    assert check.steps[1].correlation == pytest.approx(saliency.rank_correlation(check.trained, again))


def test_an_exact_map_does_not_survive_randomisation():
    """Adebayo's point, on the exact map of a trained-looking 1-layer net: random weights, another map."""
    shape, norm = SHAPES["gray"]
    torch.manual_seed(0)
    model = kinds.build("linear", shape, 10)
    image = random_image(shape, 5)
    check = saliency.cascade(model, image, norm, 3, "gradxinput")
    assert len(check.steps) == 1 and abs(check.steps[0].correlation) < 0.3 and not check.survives
    np.testing.assert_allclose(check.trained, explain.linear(model, image, norm).maps[3], atol=2e-4)


def test_a_map_that_ignores_the_weights_survives():
    same = np.arange(16.0).reshape(4, 4)
    check = saliency.Check("ig", same, [saliency.Step("class scores randomised", same, 1.0, 1.0)])
    assert check.survives
    assert saliency.rank_correlation(same, np.zeros((4, 4))) == 0.0

