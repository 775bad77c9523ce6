"""Why a network predicted what it did: exact pixel and hidden-unit contributions, and gradient x input.

The networks see normalised pixels, (x - mean) / std. Folding that affine step into the first layer's
weights and bias gives the same logits from plain 0..1 intensities, so a black pixel contributes
nothing and every score reads as the chapter writes it: z = b + sum(w * x).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch
from torch import nn

from .config import Normalization
from .nets import LinearNet, MLP


@dataclass(frozen=True)
class Contributions:
    """z_c = bias[c] + maps[c].sum() for every class c, exactly (up to float rounding)."""
    logits: np.ndarray  # (classes,) from the network's own forward pass
    bias: np.ndarray  # (classes,) the bias on 0..1 pixels
    maps: np.ndarray  # (classes, H, W): x * w_c, colour channels summed

    def total(self, c: int) -> float:
        return float(self.bias[c] + self.maps[c].sum(dtype=np.float64))


@dataclass(frozen=True)
class HiddenContributions:
    """A fully connected net: z_c = out_bias[c] + sum_j unit_contributions[c, j], each term the activation of
    unit j of the last hidden layer times its output weight. The first layer's units are sums of pixels:
    pre_activations[j] = unit_bias[j] + unit_maps[j].sum(). With one hidden layer, both are the same units."""
    logits: np.ndarray  # (classes,)
    activations: np.ndarray  # (last layer's units,) after the nonlinearity
    pre_activations: np.ndarray  # (first layer's units,) = unit_bias[j] + unit_maps[j].sum()
    unit_bias: np.ndarray  # (first layer's units,) on 0..1 pixels
    unit_maps: np.ndarray  # (first layer's units, H, W): x * (unit j's filter)
    out_bias: np.ndarray  # (classes,)
    unit_contributions: np.ndarray  # (classes, last layer's units)
    first_activations: Optional[np.ndarray] = None  # (first layer's units,) when there are several layers

    @property
    def deep(self) -> bool:
        """Whether the maps' units (first layer) and the shares' units (last layer) are different layers."""
        return self.first_activations is not None

    @property
    def first(self) -> np.ndarray:
        """The first hidden layer's activations (the units whose input maps these are)."""
        return self.activations if self.first_activations is None else self.first_activations

    def total(self, c: int) -> float:
        return float(self.out_bias[c] + self.unit_contributions[c].sum(dtype=np.float64))

    def key_unit(self, predicted: int, reference: int) -> int:
        """The last layer's unit that pushes `predicted` furthest above `reference` (the confusion's main cause)."""
        gap = self.unit_contributions[predicted] - self.unit_contributions[reference]
        return int(np.argmax(gap))


@dataclass(frozen=True)
class Gradients:
    """An attribution map per class (models/saliency.py): an estimate of each pixel's share of the logit."""
    logits: np.ndarray
    maps: dict  # class index -> (H, W), colour channels summed
    method: str = "gradxinput"
    black: Optional[np.ndarray] = None  # a black image's logits: what Integrated Gradients' maps add up from


def to_unit(image: np.ndarray) -> np.ndarray:
    """A (C, H, W) uint8 image as float64 intensities in 0..1."""
    return np.asarray(image, dtype=np.float64) / 255.0


def folded_first_layer(weight: torch.Tensor, bias: torch.Tensor, in_shape, norm: Normalization):
    """First-layer weights and bias that act on 0..1 pixels instead of normalised ones (float64)."""
    c = in_shape[0]
    w = weight.detach().double().cpu().numpy().reshape(-1, *in_shape)
    mean = np.asarray(norm.mean, dtype=np.float64).reshape(1, c, 1, 1)
    std = np.asarray(norm.std, dtype=np.float64).reshape(1, c, 1, 1)
    w_unit = w / std
    b_unit = bias.detach().double().cpu().numpy() - (w * mean / std).reshape(len(w), -1).sum(1)
    return w_unit, b_unit


@torch.no_grad()
def _logits(model: nn.Module, image: np.ndarray, norm: Normalization) -> np.ndarray:
    device = next(model.parameters()).device
    x = norm.apply(torch.as_tensor(np.ascontiguousarray(image))[None].to(device))
    return model.eval()(x)[0].double().cpu().numpy()


def linear(model: LinearNet, image: np.ndarray, norm: Normalization) -> Contributions:
    """Every class's exact contribution map x * w_c for one uint8 image."""
    w, b = folded_first_layer(model.fc.weight, model.fc.bias, model.in_shape, norm)
    maps = (w * to_unit(image)[None]).sum(1)
    return Contributions(_logits(model, image, norm), b, maps)


def mlp(model: MLP, image: np.ndarray, norm: Normalization) -> HiddenContributions:
    """Hidden activations, the last layer's share of each logit, and each first-layer unit's input map,
    for one uint8 image. Computed in float64 from the weights, layer by layer, as the network does."""
    w1, b1 = folded_first_layer(model.hidden.weight, model.hidden.bias, model.in_shape, norm)
    unit_maps = (w1 * to_unit(image)[None]).sum(1)
    pre = b1 + unit_maps.reshape(len(unit_maps), -1).sum(1)
    with torch.no_grad():
        h = model.act(torch.as_tensor(pre))
        first = h.numpy()
        for layer in model.deeper:
            h = model.act(h @ layer.weight.detach().double().cpu().T + layer.bias.detach().double().cpu())
        act = h.numpy()
    w2 = model.out.weight.detach().double().cpu().numpy()
    b2 = model.out.bias.detach().double().cpu().numpy()
    return HiddenContributions(_logits(model, image, norm), act, pre, b1, unit_maps, b2, w2 * act[None],
                               first if len(model.deeper) else None)


def reference_class(logits: np.ndarray, actual: Optional[int]) -> int:
    """What a prediction is contrasted with: the true class if it was missed, else the runner-up."""
    predicted = int(np.argmax(logits))
    if actual is not None and actual != predicted:
        return int(actual)
    order = np.argsort(-np.asarray(logits), kind="stable")
    return int(order[1])


def convnet(model: nn.Module, image: np.ndarray, norm: Normalization, actual: Optional[int] = None,
            method: str = "ig") -> Gradients:
    """Captum's `method` map (models/saliency.py) for the predicted class and the one it is contrasted with: no
    exact sum of pixels exists for a convnet's score."""
    from . import saliency
    logits = _logits(model, image, norm)
    predicted = int(np.argmax(logits))
    classes = dict.fromkeys((predicted, reference_class(logits, actual)))
    black = _logits(model, np.zeros_like(image), norm) if method == "ig" else None
    return Gradients(logits, {c: saliency.attribute(model, image, norm, c, method) for c in classes}, method, black)
