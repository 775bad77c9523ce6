"""The chapter's three networks as torch modules (models.kinds describes each kind to the rest), and the
protocol every network module keeps so the rest of the code never asks which class it is."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional, Protocol, runtime_checkable

import torch
from torch import nn


@dataclass(frozen=True)
class Units:
    """Where a network's switchable units are: the module whose output carries them, the axis of that output
    that numbers them (1 for (B, C, H, W) channels, -1 for (B, D) units or (B, N, D) tokens' channels), how
    many there are, and optionally `onward`: the logits from that output alone, so switching units off is
    exact from a cached output (milliseconds) instead of a pass over the images."""
    module: nn.Module
    axis: int
    count: int
    onward: Optional[Callable[[torch.Tensor], torch.Tensor]] = None


@runtime_checkable
class Inspectable(Protocol):
    """What every network module offers the dashboard (models.kinds adds how it is trained, named and drawn).

    - `in_shape`: the (C, H, W) it reads.
    - `layers()`: (key, title) of each representation after the input, in order, the class scores last.
    - `representations(x)`: those representations for a batch, each (B, units): a layer whose output has
      more axes (feature maps, tokens) says here how it is pooled to one row per image.
    - `units()`: where its first layer's units can be switched off (None: it has no hidden units).

    Optionally, for the unit view (models/units.py; a kind without them shows the layers of `representations`):
    - `unit_layers()`: (title, count, noun) of every layer whose units can be looked at, the class scores last;
    - `unit_maps(x)`: those layers' outputs for a batch, each (B, count, ...) (a convnet's keep their maps);
    - `unit_filters(i)`: layer i's units' input weights as images (units, C, h, w), None where they read another
      layer;
    - `unit_outgoing(i)`: the weights from layer i's units to the next layer's, (next, count) (a convolution's
      kernels summed), None for the class scores.

    Optionally, for the saliency sanity check (models/saliency.py): `weight_layers()`, the modules that hold
    each of `unit_layers()`'s weights, in the same order (randomised from the last, Adebayo's cascade).
    """
    in_shape: tuple[int, int, int]

    def layers(self) -> list[tuple[str, str]]: ...

    def representations(self, x: torch.Tensor) -> list[torch.Tensor]: ...

    def units(self) -> Optional[Units]: ...

INITS = ("random", "zeros")
ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "gelu": nn.GELU}


class LinearNet(nn.Module):
    """Inputs wired straight to the classes: each class score is b + sum(w * x)."""
    widths = ()  # no hidden layers

    def __init__(self, in_shape: tuple[int, int, int], n_classes: int = 10, init: str = "random"):
        super().__init__()
        if init not in INITS:
            raise ValueError(f"unknown init {init!r}: choose one of {', '.join(INITS)}")
        self.in_shape = tuple(in_shape)
        self.fc = nn.Linear(math.prod(in_shape), n_classes)
        if init == "zeros":  # templates then start blank, and a pixel that is never ink stays blank
            nn.init.zeros_(self.fc.weight)
            nn.init.zeros_(self.fc.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.flatten(1))

    def templates(self) -> torch.Tensor:
        """One weight image per class, (classes, C, H, W): what each class 'looks for'."""
        return self.fc.weight.detach().reshape(-1, *self.in_shape)

    def layers(self) -> list[tuple[str, str]]:
        """(key, title) of each representation after the input, in the order `representations` returns them."""
        return [("logits", "class scores (logits)")]

    def representations(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [self(x)]

    def units(self) -> Optional[Units]:
        return None  # inputs to classes: no unit between them

    def unit_layers(self) -> list[tuple[str, int, str]]:
        return [("class scores", self.fc.out_features, "class")]

    def unit_maps(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [self(x)]

    def unit_filters(self, i: int) -> Optional[torch.Tensor]:
        return self.templates()

    def unit_outgoing(self, i: int) -> Optional[torch.Tensor]:
        return None

    def weight_layers(self) -> list[nn.Module]:
        return [self.fc]


class MLP(nn.Module):
    """Fully connected: input -> one to three hidden layers -> classes. The chapter's 2-layer net is one
    hidden layer of 10 ReLU units. The first layer keeps the name `hidden` and the last `out`, so the
    shipped 2-layer checkpoints load as they were saved; the layers between are `deeper`."""

    def __init__(self, in_shape: tuple[int, int, int], n_classes: int = 10, hidden=10,
                 activation: str = "relu"):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}: choose one of {', '.join(ACTIVATIONS)}")
        widths = (int(hidden),) if isinstance(hidden, int) else tuple(int(w) for w in hidden)
        if not widths or any(w < 1 for w in widths):
            raise ValueError(f"hidden widths must be one or more positive numbers, not {hidden!r}")
        self.in_shape, self.widths = tuple(in_shape), widths
        self.hidden = nn.Linear(math.prod(in_shape), widths[0])
        self.deeper = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths, widths[1:]))
        self.act = ACTIVATIONS[activation]()
        # The first hidden layer's activations pass through here: where its units are switched off. It holds
        # no weights, so the checkpoints saved before it load as they were.
        self.first = nn.Identity()
        self.out = nn.Linear(widths[-1], n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.features(x)[-1])

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Each hidden layer's activations, first to last."""
        h = [self.first(self.act(self.hidden(x.flatten(1))))]
        for layer in self.deeper:
            h.append(self.act(layer(h[-1])))
        return h

    def layers(self) -> list[tuple[str, str]]:
        """(key, title) of each representation after the input, in the order `representations` returns them."""
        return [*((f"hidden{i + 1}", f"hidden layer {i + 1} ({w} unit{'s' if w != 1 else ''})") for i, w in enumerate(self.widths)),
                ("logits", "class scores (logits)")]

    def representations(self, x: torch.Tensor) -> list[torch.Tensor]:
        h = self.features(x)
        return [*h, self.out(h[-1])]

    def from_first(self, first: torch.Tensor) -> torch.Tensor:
        """The logits from the first hidden layer's activations: a unit switched off is a zero column there."""
        h = first
        for layer in self.deeper:
            h = self.act(layer(h))
        return self.out(h)

    def units(self) -> Units:
        return Units(self.first, -1, self.widths[0], onward=self.from_first)

    def unit_layers(self) -> list[tuple[str, int, str]]:
        return [*((f"hidden layer {i + 1}", w, "unit") for i, w in enumerate(self.widths)),
                ("class scores", self.out.out_features, "class")]

    def unit_maps(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.representations(x)

    def unit_filters(self, i: int) -> Optional[torch.Tensor]:
        return self.hidden_filters() if i == 0 else None

    def unit_outgoing(self, i: int) -> Optional[torch.Tensor]:
        onward = [*self.deeper, self.out]
        return onward[i].weight.detach() if i < len(onward) else None

    def weight_layers(self) -> list[nn.Module]:
        return [self.hidden, *self.deeper, self.out]

    def outgoing(self) -> torch.Tensor:
        """The weights that carry the first hidden layer's units onward, (next units, first-layer units): the
        tests' oracle zeroes their columns, and the diagram picks a wide layer's weightiest units by them."""
        return (self.deeper[0] if len(self.deeper) else self.out).weight

    def hidden_filters(self) -> torch.Tensor:
        """The input weights of each first-layer unit as an image, (units, C, H, W)."""
        return self.hidden.weight.detach().reshape(-1, *self.in_shape)

    def deeper_weights(self) -> list[torch.Tensor]:
        """The weight matrix of each hidden layer after the first, (units, units of the layer before)."""
        return [layer.weight.detach() for layer in self.deeper]

    def output_weights(self) -> torch.Tensor:
        """How much each unit of the last hidden layer pushes each class, (classes, units)."""
        return self.out.weight.detach()


def _conv_block(c_in: int, c_out: int, kernel: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2, bias=False),
                         nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class CNN(nn.Module):
    """A small convnet: a wide-kernel first layer (so its filters are readable), then pooled 3x3 blocks."""

    def __init__(self, in_shape: tuple[int, int, int], n_classes: int = 10,
                 widths: tuple[int, ...] = (32, 64, 128), first_kernel: int = 5):
        super().__init__()
        self.in_shape = tuple(in_shape)
        layers = [_conv_block(in_shape[0], widths[0], first_kernel)]
        for c_in, c_out in zip(widths, widths[1:]):
            layers += [_conv_block(c_in, c_out, 3), nn.MaxPool2d(2)]
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(widths[-1], n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        return self.head(torch.amax(x, dim=(2, 3)))

    def layers(self) -> list[tuple[str, str]]:
        """(key, title) of each representation after the input, in the order `representations` returns them."""
        return [("pooled", f"pooled features ({self.head.in_features})"), ("logits", "class scores (logits)")]

    def representations(self, x: torch.Tensor) -> list[torch.Tensor]:
        pooled = torch.amax(self.features(x), dim=(2, 3))
        return [pooled, self.head(pooled)]

    def units(self) -> Units:
        """The first convolution with its batch norm and ReLU: its output channels are the first-layer filters."""
        return Units(self.features[0], 1, self.features[0][0].out_channels)

    def _blocks(self) -> list[nn.Sequential]:
        return [m for m in self.features if isinstance(m, nn.Sequential)]

    def unit_layers(self) -> list[tuple[str, int, str]]:
        return [*((f"convolution block {i + 1}", b[0].out_channels, "filter") for i, b in enumerate(self._blocks())),
                ("class scores", self.head.out_features, "class")]

    def unit_maps(self, x: torch.Tensor) -> list[torch.Tensor]:
        found, blocks = [], set(map(id, self._blocks()))
        for module in self.features:
            x = module(x)
            if id(module) in blocks:
                found.append(x)
        return [*found, self.head(torch.amax(x, dim=(2, 3)))]

    def unit_filters(self, i: int) -> Optional[torch.Tensor]:
        return self.first_layer_filters() if i == 0 else None

    def unit_outgoing(self, i: int) -> Optional[torch.Tensor]:
        blocks = self._blocks()
        if i + 1 < len(blocks):
            return blocks[i + 1][0].weight.detach().sum(dim=(2, 3))
        return self.head.weight.detach() if i + 1 == len(blocks) else None

    def weight_layers(self) -> list[nn.Module]:
        return [*self._blocks(), self.head]

    def outgoing(self) -> torch.Tensor:
        """The kernels that read the first layer's filters, (filters of layer 2, filters of layer 1, k, k): the
        tests' oracle zeroes them."""
        return self.features[1][0].weight

    def first_layer_filters(self) -> torch.Tensor:
        """The first convolution's kernels, (filters, C, k, k)."""
        return self.features[0][0].weight.detach()


