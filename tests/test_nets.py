"""The networks' shapes and the arrays they expose, checked against direct numpy computation."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from models import nets


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)])
def test_linear_templates_are_the_weights_as_images(shape):
    torch.manual_seed(0)
    net = nets.build("linear", shape, 10)
    x = torch.randn(5, *shape)
    w = net.templates().numpy()
    assert w.shape == (10, *shape)
    # The chapter's picture: score_c = b_c + sum(w_c * x)
    expect = np.einsum("nchw,kchw->nk", x.numpy(), w) + net.visuals()["bias"].numpy()
    assert np.allclose(net(x).detach().numpy(), expect, atol=1e-4)


def test_mlp_exposes_filters_and_output_weights():
    net = nets.build("mlp", (3, 32, 32), 10, activation="tanh")
    v = net.visuals()
    assert v["hidden_filters"].shape == (10, 3, 32, 32)
    assert v["output_weights"].shape == (10, 10)
    x = torch.randn(2, 3, 32, 32)
    h = np.tanh(x.flatten(1).numpy() @ v["hidden_filters"].reshape(10, -1).numpy().T + v["hidden_bias"].numpy())
    expect = h @ v["output_weights"].numpy().T + v["output_bias"].numpy()
    assert np.allclose(net(x).detach().numpy(), expect, atol=1e-4)
    with pytest.raises(ValueError, match="unknown activation"):
        nets.build("mlp", (1, 28, 28), 10, activation="swishy")


def test_cnn_forward_and_first_layer_filters():
    net = nets.build("cnn", (1, 28, 28), 10, widths=(8, 16))
    assert net(torch.randn(3, 1, 28, 28)).shape == (3, 10)
    assert net.first_layer_filters().shape == (8, 1, 5, 5)


def test_unknown_arch():
    with pytest.raises(ValueError, match="unknown arch"):
        nets.build("transformer", (1, 28, 28), 10)
