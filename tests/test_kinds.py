"""Network kinds: each builds, trains a step, hands over its weights and explains; a new kind needs no app code."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from models import kinds
from models.config import Normalization, TrainConfig
from models.datasets import ImageSet
from models.errors import ConfigError
from models.kinds import Bars, Tiles
from models.nets import MLP
from models.train import fit
from tests.conftest import quick_trained

NORM = Normalization((0.5,), (0.25,))


def tiny_set(shape=(1, 28, 28), n=64) -> ImageSet:
    gen = torch.Generator().manual_seed(0)
    return ImageSet(torch.randint(0, 256, (n, *shape), dtype=torch.uint8, generator=gen),
                    torch.randint(0, 10, (n,), generator=gen), tuple(str(c) for c in range(10)))


ARGS = {"linear": {}, "mlp": {"activation": "tanh"}, "cnn": {"widths": (8, 16)}}


@pytest.mark.parametrize("name", list(kinds.KINDS))
def test_each_kind_builds_trains_and_hands_over_its_weights(name):
    kind = kinds.get(name)
    data = tiny_set()
    model, report = fit(name, data, NORM, TrainConfig(epochs=1, batch_size=32, arch_args=ARGS[name]))
    assert len(report.history) == 1 and isinstance(model, kind.module)
    parts = kind.weights(model, data.classes)
    tiles = [p for p in parts if isinstance(p, Tiles)]
    assert tiles and kind.first_layer(model, data.classes).name == tiles[0].name
    first = next(m for m in model.modules() if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d)))
    # The first grid is the first layer's weights themselves, one image per class, unit or kernel.
    assert np.array_equal(tiles[0].images.reshape(len(tiles[0].images), -1),
                          first.weight.detach().numpy().reshape(len(tiles[0].images), -1))
    assert len(tiles[0].labels) == len(tiles[0].images)
    assert tiles[0].per_class == kind.templates  # only templates are one per class
    for bars in (p for p in parts if isinstance(p, Bars)):
        assert np.array_equal(bars.values, model.out.weight.detach().numpy())
    image = data.images[0].numpy()
    ex = kind.explain(model, image, NORM, int(data.labels[0]))
    with torch.no_grad():
        logits = model.eval()(NORM.apply(data.images[:1]))[0].double().numpy()
    assert np.allclose(ex.logits, logits, atol=1e-4)  # the explanation is of this network's own output


def test_a_kind_rebuilds_from_recorded_arguments_and_refuses_what_is_not_one():
    net = kinds.build("mlp", (3, 32, 32), 10, activation="tanh")
    x = torch.randn(2, 3, 32, 32)
    h = torch.tanh(x.flatten(1) @ net.hidden.weight.T + net.hidden.bias)
    assert torch.allclose(net(x), h @ net.out.weight.T + net.out.bias, atol=1e-5)
    with pytest.raises(ValueError, match="unknown activation"):
        kinds.build("mlp", (1, 28, 28), 10, activation="swishy")
    with pytest.raises(ConfigError, match="unknown arch 'transformer': choose one of linear, mlp, cnn"):
        kinds.build("transformer", (1, 28, 28), 10)


def test_linear_templates_are_the_weights_as_images():
    net = kinds.build("linear", (3, 32, 32), 10)
    x = torch.randn(5, 3, 32, 32)
    w = kinds.get("linear").first_layer(net, [str(c) for c in range(10)]).images
    expect = np.einsum("nchw,kchw->nk", x.numpy(), w) + net.fc.bias.detach().numpy()  # b_c + sum(w_c * x)
    assert np.allclose(net(x).detach().numpy(), expect, atol=1e-4)


def test_training_defaults_come_from_the_kind():
    cfg = kinds.default_config("mnist", "linear", epochs=2, seed=None)
    assert cfg.epochs == 2 and cfg.seed == 0 and cfg.optimizer == "sgd"
    # A dataset with its own settings wins over its family's; another of the family gets the family's.
    assert kinds.default_config("mnist", "linear", "fashion-mnist").weight_decay == 3.5e-3
    assert kinds.default_config("mnist", "linear", "kmnist").weight_decay == 2e-3
    with pytest.raises(ConfigError, match="unknown arch"):
        kinds.default_config("mnist", "resnet")
    with pytest.raises(ConfigError, match="no training defaults for mlp on svhn data"):
        kinds.default_config("svhn", "mlp")


class Tiny(MLP):
    def __init__(self, in_shape, n_classes=10, **args):
        super().__init__(in_shape, n_classes, hidden=3, **args)


def test_a_new_kind_appears_in_the_page_without_touching_the_app(tmp_path, monkeypatch):
    from app.main import create_app
    from app.state import screen
    tiny = replace(kinds.get("mlp"), name="tiny", label="Three hidden units", module=Tiny, shapes=None,
                   defaults={"mnist": TrainConfig(epochs=1, batch_size=32)})
    monkeypatch.setitem(kinds.KINDS, "tiny", tiny)
    with quick_trained(tmp_path, (("mnist", "tiny"),)) as (settings, zoo):
        cb = create_app(settings).lookinside_callbacks
        options = cb["options"]("mnist")[0]
        assert {"label": "Three hidden units", "value": "tiny"} in options
        found = cb["resolve"]("mnist", "tiny")["resolved"]
        assert found["status"] == "ready"
        panel = cb["weights"](screen(found, None, "mnist", "tiny"), "diverging", None)[0]
        captions = [t["label"] for part in panel["parts"] for t in part.get("tiles", [])]
        assert captions == ["unit 1", "unit 2", "unit 3"]  # its three hidden units, drawn by the same panel



def test_a_kind_whose_weights_are_not_images_trains_live_and_draws(tmp_path, monkeypatch):
    """A kind without tiles (only output bars): no first layer to draw, and the live view shows its heatmap."""
    import json
    from types import SimpleNamespace

    from app.training import live_frame
    from app.main import create_app
    from app.state import screen
    bars_only = replace(kinds.get("mlp"), name="barsonly", label="Bars only", module=Tiny, shapes=None,
                        defaults={"mnist": TrainConfig(epochs=1, batch_size=32)},
                        weights_of=lambda model, classes: [Bars("out", "what each unit pushes",
                                                                np.zeros((len(classes), 3)))])
    monkeypatch.setitem(kinds.KINDS, "barsonly", bars_only)
    with quick_trained(tmp_path, (("mnist", "barsonly"),)) as (settings, zoo):
        ckpt = zoo.load("mnist", "barsonly")
        assert bars_only.first_layer(ckpt.model, ckpt.classes) is None
        frame = json.loads(live_frame(settings, "mnist", "barsonly", SimpleNamespace(label="epoch 1"), ckpt.model,
                                      ckpt.normalization))
        assert frame["images"] == [] and frame["caption"] == "epoch 1" and frame["figure"]["data"]
        cb = create_app(settings).lookinside_callbacks
        found = cb["resolve"]("mnist", "barsonly")["resolved"]
        panel = cb["weights"](screen(found, None, "mnist", "barsonly"), "diverging", None)[0]
        assert "parts" in panel and not any(part.get("tiles") for part in panel["parts"])

def _all(node, kind):
    found = [node] if isinstance(node, kind) else []
    children = node if isinstance(node, list) else getattr(node, "children", None)
    for child in children if isinstance(children, list) else [children]:
        if child is not None and not isinstance(child, (str, int, float)):
            found += _all(child, kind)
    return found


@pytest.mark.parametrize("widths, activation, network", [
    ((100,), "relu", "mlp-100-relu"), ((32, 16), "tanh", "mlp-32-16-tanh"), ((1, 1024, 7), "gelu", "mlp-1-1024-7-gelu"),
    ((10,), "sigmoid", "mlp-10-sigmoid"),
    ((10,), "relu", "mlp"), ((), "tanh", "linear"),  # the chapter's two nets keep their names
])
def test_network_ids_round_trip(widths, activation, network):
    from models.zoo import base_of, is_network, parse_network, shape_of
    assert kinds.fully_connected(widths, activation) == network
    assert is_network(network) and is_network(f"{network}~run3") and base_of(f"{network}~run3") == network
    assert parse_network(f"{network}~run3") == (kinds.parse(network).kind, 3)
    shape = shape_of(network)
    if shape.args:
        assert shape.args == {"hidden": widths, "activation": activation} and shape.id == network
        model = kinds.build(shape.kind, (1, 28, 28), 10, **shape.args)
        assert model.widths == widths


@pytest.mark.parametrize("network, says", [
    ("mlp-10-relu", "is the network 'mlp'"), ("mlp-010-tanh", "not a network id"), ("mlp-32-16", "unknown activation"),
    ("mlp-0-relu", "1 to 1,024 units"), ("mlp-2000-relu", "1 to 1,024 units"), ("mlp-1-2-3-4-relu", "at most 3"),
    ("cnn-32-relu", "unknown arch"), ("mlp--relu", "not a network id"), ("mlp-32-relu~run0", "not a network id"),
])
def test_bad_network_ids_are_refused_in_one_line(network, says):
    from models.zoo import is_network, parse_network
    with pytest.raises(ConfigError, match=says) as raised:
        parse_network(network)
    assert "\n" not in str(raised.value) and not is_network(network)


@pytest.mark.parametrize("text, widths", [("100", (100,)), (" 32, 16 ", (32, 16)), ("0", ()), ("", ()), ("8;4", (8, 4))])
def test_widths_as_typed(text, widths):
    assert kinds.parse_widths(text) == widths


def test_a_variants_weights_page_its_filters_and_draw_matrices():
    from models.kinds import Matrix
    classes = tuple(str(c) for c in range(10))
    model = kinds.build("mlp", (1, 28, 28), 10, hidden=(120, 20), activation="relu")
    filters, layer2, out = kinds.get("mlp").weights(model, classes)
    assert isinstance(filters, Tiles) and filters.images.shape == (120, 1, 28, 28)
    assert np.array_equal(filters.images.reshape(120, -1), model.hidden.weight.detach().numpy())
    assert isinstance(layer2, Matrix) and np.array_equal(layer2.values, model.deeper[0].weight.detach().numpy())
    # More units than bars can show: the output weights are a classes x units heatmap, rows named by class.
    assert isinstance(out, Matrix) and out.values.shape == (10, 20) and out.row_labels == classes
    few = kinds.get("mlp").weights(kinds.build("mlp", (1, 28, 28), 10, hidden=(16,)), classes)
    assert [type(p) for p in few] == [Tiles, Bars]


def test_digits_that_int_cannot_read_are_refused_not_crashed():
    """'²' passes str.isdigit() but int() raises on it: every id, width and address field is refused in one
    line (or left out) instead."""
    from app.query import parse
    from models.zoo import is_network
    with pytest.raises(ConfigError, match="whole numbers"):
        kinds.parse_widths("²")
    assert not is_network("mlp~run²") and not is_network("mlp-²-relu")
    assert parse("?cell=²-3&sample=²&t=²&model=mlp-²-relu") == {}
