"""One descriptor per network kind: how it is built, trained by default, named, drawn and explained.

Everything else asks a kind's descriptor instead of testing its name, so a new kind (or a new
setting of one) is added here, with at most one figure builder in the app for a new kind of weights.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from enum import Enum
from typing import Callable, Mapping, Optional, Sequence, Union

import numpy as np
from torch import nn

from . import explain as explaining
from . import saliency
from .config import Normalization, TrainConfig
from .errors import ConfigError
from . import nets
from .nets import CNN, MLP, LinearNet


@dataclass(frozen=True)
class Tiles:
    """Weight images drawn as a grid, one per class or per unit."""
    name: str  # what the weights are: "templates", "hidden_filters", "first_layer_filters"
    title: str  # a heading over the grid ("" when the card's own heading says it)
    caption: str  # what they are, in a few words (the live view's caption)
    images: np.ndarray  # (n, C, H, W), float
    labels: tuple[str, ...]
    per_class: bool = False  # one tile per class: a selected cell marks its two classes
    per_tile: bool = False  # each tile is stretched to its own range (kernels differ in scale), else one scale
    colour: bool = False  # read best in colour when the images have three channels (templates are pictures)
    small: bool = False  # many small tiles (kernels), captioned by their number alone


@dataclass(frozen=True)
class Bars:
    """How much each unit pushes each class, (classes, units): one bar chart per class."""
    name: str
    title: str
    values: np.ndarray


@dataclass(frozen=True)
class Matrix:
    """A weight matrix drawn as a heatmap, (rows, columns): a deeper layer's weights over the layer before,
    or the output weights when there are too many units for bar charts."""
    name: str
    title: str
    values: np.ndarray
    rows: str  # what a row is ("class", "unit of layer 2")
    columns: str  # what a column is ("unit of layer 1")
    row_labels: tuple[str, ...] = ()  # the classes, for the output weights (a selected cell marks two rows)


Weights = Union[Tiles, Bars, Matrix]


@dataclass(frozen=True)
class Shapes:
    """The shapes a kind can be built in besides its served network, each under a network id of its own
    ("<kind>-<suffix>", e.g. mlp-32-16-tanh). `parse` reads a suffix into constructor arguments (a
    ConfigError for anything else), `suffix` writes them back, `label` names them in the page, and
    `config` gives their measured training defaults for a dataset family or dataset."""
    parse: Callable[[str], dict]
    suffix: Callable[[dict], str]
    label: Callable[[dict], str]
    config: Callable[[str, Optional[str], dict], TrainConfig]


class Pass(Enum):
    """Where a pass of a network over a dataset split runs: its layers for the maps and nearest images, or the
    test split with units switched off."""
    REQUEST = "request"  # in the request that asks, cached after (a fully connected net: milliseconds)
    JOB = "job"  # in a background job the visitor starts, whose files the page then reads (tens of seconds)


@dataclass(frozen=True, repr=False)
class Kind:
    """A kind of network: its module, settings and what the dashboard shows of it."""
    name: str
    label: str  # its name in the page
    module: type[nn.Module]
    about: str  # how to read its weights (the first lines of the weights panel)
    # Training settings measured on the real data, by dataset family ("mnist", "cifar") or by a dataset
    # that needs its own ("fashion-mnist"); see the README for how they were chosen.
    defaults: Mapping[str, TrainConfig]
    weights_of: Callable[[nn.Module, Sequence[str]], list]
    explain_with: Callable
    # The time-to-accuracy targets (accuracy, seconds) the training table reports, by dataset.
    targets: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    templates: bool = False  # its weights are one template per class (compared with the class means)
    channels_last: bool = False  # convolutions run faster on channels-last tensors
    # Test images scored at each timeline snapshot while training, for the live view (None: all). The
    # fully connected nets classify the test split in milliseconds, so their snapshots record accuracy.
    live_images: Optional[int] = None
    scores_snapshots: bool = True
    shapes: Optional[Shapes] = None  # the other shapes it can be built in (see Shapes)
    # Where its layers (the maps, the nearest training images) and its switched-off test pass are computed.
    maps: Pass = Pass.REQUEST
    switching: Pass = Pass.REQUEST
    unit: str = "unit"  # what one of its first layer's units is called in the page ("filter" for a convnet)
    # Seconds of training per weight, training image and epoch here (after about 6 s of start), for the
    # estimate on the button that trains it; None where its cost is not in its weight count (convolutions).
    train_rate: Optional[float] = 9e-11
    # Its pixel maps are estimates whose method can be chosen (models/saliency.py); the fully connected nets'
    # are exact, and have no other.
    map_methods: bool = False

    def __repr__(self) -> str:
        return f"Kind({self.name!r})"

    def build(self, in_shape, n_classes: int, **args) -> nn.Module:
        """The network from the arguments a checkpoint records."""
        return self.module(tuple(in_shape), n_classes, **args)

    def config(self, family: str, dataset: Optional[str] = None, **overrides) -> TrainConfig:
        """The measured defaults for a dataset (else its family), with any settings given replaced."""
        base = self.defaults.get(dataset) or self.defaults.get(family)
        if base is None:
            raise ConfigError(f"no training defaults for {self.name} on {family} data")
        settings = asdict(base)
        settings.update({k: v for k, v in overrides.items() if v is not None})
        return TrainConfig(**settings)

    def weights(self, model: nn.Module, classes: Sequence[str]) -> list[Weights]:
        """What its weights are, in the order the weights panel draws them."""
        return self.weights_of(model, tuple(classes))

    def units(self, count: int) -> str:
        """Its unit noun for `count` of them: "unit", "filters"."""
        return self.unit + ("" if count == 1 else "s")

    def first_layer(self, model: nn.Module, classes: Sequence[str]) -> Optional[Tiles]:
        """The first layer's weights as images (templates, filters or kernels): drawn live while it trains,
        and beside an explanation; None for a kind whose weights are not images."""
        return next((w for w in self.weights(model, classes) if isinstance(w, Tiles)), None)

    def explain(self, model: nn.Module, image: np.ndarray, norm: Normalization, actual: Optional[int] = None,
                method: Optional[str] = None):
        """Why it predicted what it did for one uint8 image (see models.explain); `method` chooses the pixel
        maps of a kind with `map_methods` (None: its default) and is not asked of the others."""
        if self.map_methods:
            return self.explain_with(model, image, norm, actual, method=method or saliency.DEFAULT)
        return self.explain_with(model, image, norm, actual)


def _numpy(t) -> np.ndarray:
    return t.detach().cpu().numpy()


def _linear_weights(model: LinearNet, classes) -> list[Weights]:
    return [Tiles("templates", "", "the class templates", _numpy(model.templates()), classes,
                  per_class=True, colour=True)]


SMALL_FROM = 24  # more first-layer filters than this are drawn as small tiles, numbered only
BARS_UP_TO = 16  # output weights as one bar chart per class up to this many units, a heatmap beyond


def _units(n: int) -> tuple[str, ...]:
    return tuple(f"unit {u + 1}" for u in range(n))


def _mlp_weights(model: MLP, classes) -> list[Weights]:
    filters = _numpy(model.hidden_filters())
    deep = len(model.widths) > 1
    parts: list[Weights] = [Tiles("hidden_filters", "First hidden layer's filters" if deep else "Hidden units' filters",
                                  "the first hidden layer's filters" if deep else "the hidden units' filters",
                                  filters, _units(len(filters)), small=len(filters) > SMALL_FROM)]
    for n, w in enumerate(model.deeper_weights(), start=2):
        parts.append(Matrix(f"layer_{n}", f"Hidden layer {n}: each unit's weights over layer {n - 1}'s units",
                            _numpy(w), f"unit of layer {n}", f"unit of layer {n - 1}"))
    out = _numpy(model.output_weights())
    last = "the last hidden layer's units" if deep else "the hidden units"
    if out.shape[1] <= BARS_UP_TO:
        parts.append(Bars("output_weights", f"Output weights of each class over {last}", out))
    else:
        parts.append(Matrix("output_weights", f"Output weights of each class over {last}", out, "class",
                            f"unit of layer {len(model.widths)}", tuple(classes)))
    return parts


def _cnn_weights(model: CNN, classes) -> list[Weights]:
    kernels = _numpy(model.first_layer_filters())
    return [Tiles("first_layer_filters", "", "the first layer's filters", kernels,
                  tuple(f"filter {f + 1}" for f in range(len(kernels))), per_tile=True, small=True)]


def _linear_explanation(model, image, norm, actual):
    return explaining.linear(model, image, norm)


def _mlp_explanation(model, image, norm, actual):
    return explaining.mlp(model, image, norm)


_ZEROS = {"init": "zeros"}  # templates start blank, and a pixel that is never ink stays blank

LINEAR = Kind(
    name="linear", label="1-layer (linear)", module=LinearNet,
    about="Each class score is a weighted sum of the pixels: b + Σ w·x. These are the weights w of each class, "
          "drawn as images: a template of what the class looks like, and of what it must not look like.",
    # From zero, with SGD, an L2 weight decay and a Laplacian smoothness penalty, the templates look like
    # the classes (the chapter's "blurry 0") for about 0.1 point of accuracy; Adam from random weights
    # reached 0.1 more, with templates of pixel noise. The weights are averaged over the steps (an EMA, 0.99)
    # and the rate kept low: at the earlier rates (0.5 on MNIST) the path thrashed, and its timeline fell from
    # 90.6% to 53.5% and back; averaged, no snapshot falls more than 0.5 point below the best before it
    # (BENCHMARKS.md, "A timeline of learning").
    defaults={
        "mnist": TrainConfig(epochs=20, batch_size=512, optimizer="sgd", lr=0.15, weight_decay=2e-3,
                             smoothness=8e-3, average=0.99, arch_args=_ZEROS),
        "fashion-mnist": TrainConfig(epochs=20, batch_size=512, optimizer="sgd", lr=0.05, weight_decay=3.5e-3,
                                     smoothness=8e-3, average=0.99, arch_args=_ZEROS),
        "cifar": TrainConfig(epochs=10, batch_size=512, optimizer="sgd", lr=0.02, weight_decay=6e-2,
                             smoothness=1.0, average=0.99, arch_args=_ZEROS),
    },
    weights_of=_linear_weights, explain_with=_linear_explanation, templates=True,
    targets={"mnist": (0.925, 5), "cifar10": (0.40, 10)})

MAX_HIDDEN_LAYERS, MAX_WIDTH = 3, 1024
ACTIVATIONS = tuple(nets.ACTIVATIONS)


def parse_widths(text) -> tuple[int, ...]:
    """Hidden widths as a person types them ("100", "32,16", "0" or "" for none); ConfigError otherwise."""
    text = str(text).strip()[:80]
    if text in ("", "0"):
        return ()
    parts = [p.strip() for p in text.replace(";", ",").split(",")]
    if not all(p.isdecimal() for p in parts):
        raise ConfigError(f"hidden widths are whole numbers separated by commas, e.g. 100 or 32,16 (not {text!r})")
    return check_widths(int(p) for p in parts)


def check_widths(widths) -> tuple[int, ...]:
    widths = tuple(widths)
    if len(widths) > MAX_HIDDEN_LAYERS:
        raise ConfigError(f"at most {MAX_HIDDEN_LAYERS} hidden layers (asked for {len(widths)})")
    if any(not 1 <= w <= MAX_WIDTH for w in widths):
        raise ConfigError(f"each hidden layer has 1 to {MAX_WIDTH:,} units (asked for "
                          f"{', '.join(str(w) for w in widths)})")
    return widths


def check_activation(activation) -> str:
    if activation not in ACTIVATIONS:
        raise ConfigError(f"unknown activation {str(activation)[:20]!r}: choose one of {', '.join(ACTIVATIONS)}")
    return activation


def _fc_parse(suffix: str) -> dict:
    *widths, activation = suffix.split("-")
    if not widths or not all(w.isdecimal() and w == str(int(w)) for w in widths):
        raise ConfigError(f"'mlp-{suffix[:30]}' is not a network id (e.g. mlp-100-relu or mlp-32-16-tanh)")
    return {"hidden": check_widths(int(w) for w in widths), "activation": check_activation(activation)}


def _fc_suffix(args: dict) -> str:
    return "-".join([*(str(w) for w in args["hidden"]), args["activation"]])


def _fc_label(args: dict) -> str:
    widths = args["hidden"]
    units = " + ".join(str(w) for w in widths)
    return f"{len(widths) + 1}-layer ({units} hidden unit{'s' if sum(widths) > 1 else ''}, {args['activation']})"


# Measured on the 2-core CPU (see BENCHMARKS.md, "build your own"): Adam at batch 128 for 8 epochs gave
# MNIST's 784-100-10 98.2% in 8.5 s. No smoothness penalty: it costs accuracy on wide layers.
_FC_DEFAULTS = {
    "mnist": TrainConfig(epochs=8, batch_size=128, lr=2e-3),
    "cifar": TrainConfig(epochs=10, batch_size=128, lr=1e-3),
}


def _fc_config(family: str, dataset: Optional[str], args: dict) -> TrainConfig:
    base = _FC_DEFAULTS.get(dataset) or _FC_DEFAULTS.get(family)
    if base is None:
        raise ConfigError(f"no training defaults for fully connected networks on {family} data")
    return replace(base, arch_args={"hidden": tuple(args["hidden"]), "activation": args["activation"]})


FULLY_CONNECTED = Shapes(parse=_fc_parse, suffix=_fc_suffix, label=_fc_label, config=_fc_config)

MLP_KIND = Kind(
    name="mlp", label="2-layer (10 hidden units)", module=MLP,
    about="Each hidden unit takes a weighted sum of the pixels (their filters, first row); each class then "
          "adds up the hidden units with its own output weights (bars, or a heatmap when there are many units: purple "
          "pushes the class up, orange down). A class is recognised by the combination of units it relies on.",
    # relu beat gelu, tanh and sigmoid (94.4%, 94.1%, 92.6%, 91.8% on MNIST at batch 64); batch 256 with a
    # higher rate then reached 94.6% sooner. The smoothness penalty turns the hidden filters from pixel
    # noise into readable strokes at no cost in accuracy.
    defaults={
        "mnist": TrainConfig(epochs=40, batch_size=256, lr=1e-2, smoothness=1e-2, arch_args={"activation": "relu"}),
        "cifar": TrainConfig(epochs=15, batch_size=128, lr=3e-3, smoothness=0.3, arch_args={"activation": "relu"}),
    },
    weights_of=_mlp_weights, explain_with=_mlp_explanation, shapes=FULLY_CONNECTED,
    targets={"mnist": (0.94, 15), "cifar10": (0.42, 20)})

CNN_KIND = Kind(
    name="cnn", label="Convnet", module=CNN,
    about="The first convolution's filters: small patterns slid over the whole image. Later layers combine their "
          "responses, so these show only the first step of what the convnet looks for.",
    defaults={
        "mnist": TrainConfig(epochs=3, batch_size=128, optimizer="sgd", lr=0.1, weight_decay=5e-4,
                             label_smoothing=0.1, bf16=True, arch_args={"widths": (32, 64, 128)}),
        "cifar": TrainConfig(epochs=8, batch_size=256, optimizer="sgd", lr=0.2, weight_decay=5e-4,
                             label_smoothing=0.1, augment=True, bf16=True, arch_args={"widths": (32, 64, 128, 256)}),
    },
    weights_of=_cnn_weights, explain_with=explaining.convnet, channels_last=True,
    # Scoring the test split costs a convnet seconds: its snapshots record no accuracy, and the live
    # view scores a slice of it.
    live_images=2000, scores_snapshots=False, maps=Pass.JOB, switching=Pass.JOB, unit="filter", train_rate=None,
    map_methods=True,
    targets={"mnist": (0.99, 120), "cifar10": (0.75, 600)})

KINDS: dict[str, Kind] = {k.name: k for k in (LINEAR, MLP_KIND, CNN_KIND)}


def get(name: str) -> Kind:
    """The kind named `name`; ConfigError (one line, with the choices) for anything else."""
    found = KINDS.get(name) if isinstance(name, str) else None
    if found is None:
        raise ConfigError(f"unknown arch {str(name)[:40]!r}: choose one of {', '.join(KINDS)}")
    return found


def build(name: str, in_shape, n_classes: int, **args) -> nn.Module:
    """Rebuild a network from the kind and arguments a checkpoint records."""
    return get(name).build(in_shape, n_classes, **args)


def default_config(family: str, name: str, dataset: Optional[str] = None, **overrides) -> TrainConfig:
    """The measured defaults of kind `name` for a dataset (else its family), with settings replaced."""
    return get(name).config(family, dataset, **overrides)


# Network ids. A served network is named by its kind ("mlp"); another shape of a kind by the kind and
# its suffix ("mlp-32-16-tanh"). Each id names one shape only: "mlp-10-relu" is the chapter's "mlp",
# and a fully connected net with no hidden layer is the 1-layer net, "linear".

@dataclass(frozen=True)
class Network:
    kind: str
    args: dict  # the constructor arguments the id fixes (empty for a served network: its kind's defaults)

    @property
    def id(self) -> str:
        return self.kind if not self.args else f"{self.kind}-{get(self.kind).shapes.suffix(self.args)}"

    @property
    def label(self) -> str:
        return get(self.kind).label if not self.args else get(self.kind).shapes.label(self.args)


def parse(network) -> Network:
    """The kind and shape a network id (without a run mark) names; ConfigError for anything else."""
    text = str(network)[:60]
    if not isinstance(network, str):
        raise ConfigError(f"{text!r} is not a network id")
    if network in KINDS:
        return Network(network, {})
    name, dash, suffix = network.partition("-")
    kind = KINDS.get(name)
    if not dash or kind is None or kind.shapes is None:
        raise ConfigError(f"unknown arch {text!r}: choose one of {', '.join(KINDS)}, or e.g. mlp-100-relu")
    found = Network(name, kind.shapes.parse(suffix))
    canonical = fully_connected(found.args["hidden"], found.args["activation"]) if name == MLP_KIND.name \
        else found.id
    if canonical != network:
        raise ConfigError(f"{text!r} is the network {canonical!r}: use that id")
    return found


def fully_connected(hidden, activation: str = "relu") -> str:
    """The id of the fully connected net with these hidden widths (checked): "linear" without hidden
    layers, "mlp" for the chapter's 10 ReLU units, else e.g. "mlp-32-16-tanh"."""
    widths, activation = check_widths(hidden), check_activation(activation)
    if not widths:
        return LINEAR.name
    if widths == (10,) and activation == "relu":
        return MLP_KIND.name
    return Network(MLP_KIND.name, {"hidden": widths, "activation": activation}).id
