"""One descriptor per network kind: how it is built, trained by default, named, drawn and explained.

Everything else asks a kind's descriptor instead of testing its name, so a new kind (or a new
setting of one) is added here, with at most one figure builder in the app for a new kind of weights.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Callable, Mapping, Optional, Sequence, Union

import numpy as np
from torch import nn

from . import explain as explaining
from .config import Normalization, TrainConfig
from .errors import ConfigError
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


Weights = Union[Tiles, Bars]


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

    def first_layer(self, model: nn.Module, classes: Sequence[str]) -> Tiles:
        """The first layer's weights as images (templates, filters or kernels): drawn live while it trains,
        and beside an explanation."""
        return next(w for w in self.weights(model, classes) if isinstance(w, Tiles))

    def explain(self, model: nn.Module, image: np.ndarray, norm: Normalization, actual: Optional[int] = None):
        """Why it predicted what it did for one uint8 image (see models.explain)."""
        return self.explain_with(model, image, norm, actual)


def _numpy(t) -> np.ndarray:
    return t.detach().cpu().numpy()


def _linear_weights(model: LinearNet, classes) -> list[Weights]:
    return [Tiles("templates", "", "the class templates", _numpy(model.templates()), classes,
                  per_class=True, colour=True)]


def _mlp_weights(model: MLP, classes) -> list[Weights]:
    filters = _numpy(model.hidden_filters())
    return [Tiles("hidden_filters", "Hidden units' filters", "the hidden units' filters", filters,
                  tuple(f"unit {u + 1}" for u in range(len(filters)))),
            Bars("output_weights", "Output weights of each class over the hidden units",
                 _numpy(model.output_weights()))]


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
    # reached 0.1 more, with templates of pixel noise.
    defaults={
        "mnist": TrainConfig(epochs=20, batch_size=512, optimizer="sgd", lr=0.5, weight_decay=2.3e-3,
                             smoothness=8e-3, arch_args=_ZEROS),
        "fashion-mnist": TrainConfig(epochs=20, batch_size=512, optimizer="sgd", lr=0.5, weight_decay=3.5e-3,
                                     smoothness=1.2e-2, arch_args=_ZEROS),
        "cifar": TrainConfig(epochs=10, batch_size=512, optimizer="sgd", lr=0.05, weight_decay=6e-2,
                             smoothness=1.0, arch_args=_ZEROS),
    },
    weights_of=_linear_weights, explain_with=_linear_explanation, templates=True,
    targets={"mnist": (0.925, 5), "cifar10": (0.40, 10)})

MLP_KIND = Kind(
    name="mlp", label="2-layer (10 hidden units)", module=MLP,
    about="The 10 hidden units each take a weighted sum of the pixels (their filters, first row); each class then "
          "adds up the hidden units with its own output weights (the bars: purple pushes the class up, orange "
          "down). A class is recognised by the combination of units it relies on.",
    # relu beat gelu, tanh and sigmoid (94.4%, 94.1%, 92.6%, 91.8% on MNIST at batch 64); batch 256 with a
    # higher rate then reached 94.6% sooner. The smoothness penalty turns the hidden filters from pixel
    # noise into readable strokes at no cost in accuracy.
    defaults={
        "mnist": TrainConfig(epochs=40, batch_size=256, lr=1e-2, smoothness=1e-2, arch_args={"activation": "relu"}),
        "cifar": TrainConfig(epochs=15, batch_size=128, lr=3e-3, smoothness=0.3, arch_args={"activation": "relu"}),
    },
    weights_of=_mlp_weights, explain_with=_mlp_explanation,
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
    live_images=2000, scores_snapshots=False,
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
