"""models/nets.py: each network module keeps the protocol the dashboard reads (models.nets.Inspectable)."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from models import kinds, layers
from models.nets import CNN, MLP, Inspectable, LinearNet

BUILDS = {
    "linear": lambda shape: LinearNet(shape, 10),
    "mlp": lambda shape: MLP(shape, 10, hidden=(6, 4), activation="sigmoid"),
    "cnn": lambda shape: CNN(shape, 10, widths=(4, 6)),
}


@pytest.mark.parametrize("name", list(BUILDS))
@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (1, 16, 16)])
def test_every_module_keeps_the_protocol(name, shape):
    torch.manual_seed(0)
    model = BUILDS[name](shape).eval()
    assert isinstance(model, Inspectable) and tuple(model.in_shape) == shape
    x = torch.randn(5, *shape)
    found = model.representations(x)
    assert len(found) == len(model.layers()) and model.layers()[-1][0] == "logits"
    assert all(r.ndim == 2 and len(r) == 5 for r in found)  # one row per image, whatever the layer's shape
    assert torch.allclose(found[-1], model(x), atol=1e-5)  # the last representation is the class scores
    units = model.units()
    if name == "linear":
        assert units is None and layers.switchable(model) == 0
        return
    seen = []
    handle = units.module.register_forward_hook(lambda _, __, out: seen.append(out))
    model(x)
    handle.remove()
    assert seen[0].shape[units.axis] == units.count == layers.switchable(model)


def test_the_first_hidden_layer_is_where_an_mlp_switches_and_goes_on_from():
    torch.manual_seed(1)
    model = MLP((1, 28, 28), 10, hidden=(5, 3), activation="tanh").eval()
    x = torch.randn(4, 1, 28, 28)
    first = model.features(x)[0]
    assert torch.allclose(model.units().onward(first), model(x), atol=1e-6)
    # The marker module holds no weights: the checkpoints saved before it load as they were.
    assert not any(k.startswith("first.") for k in model.state_dict())
    assert isinstance(model.first, nn.Identity)


def test_a_convnet_switches_its_first_blocks_channels():
    model = CNN((3, 32, 32), 10, widths=(4, 6)).eval()
    units = model.units()
    assert units.module is model.features[0] and units.axis == 1 and units.count == 4 and units.onward is None
    assert kinds.get("cnn").unit == "filter" and kinds.get("mlp").unit == "unit"
    assert kinds.get("cnn").units(1) == "filter" and kinds.get("mlp").units(3) == "units"
