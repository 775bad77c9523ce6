"""Pixel attribution maps from Captum, and Adebayo et al.'s sanity check of them ("Sanity checks for saliency
maps", 2018).

Every map is taken on 0..1 pixels (the network's normalisation is the first step of the function Captum sees), so
a black pixel is the baseline of Integrated Gradients and Occlusion and maps read like the exact ones of the fully
connected nets. Each map sums its colour channels: (H, W) float64.

The check: the same method, on the same image and class, for the network with its layers re-initialised one at a
time from the class scores down (the cascade), each compared with the trained network's map by Spearman's rank
correlation. A map that still looks the same once what the network learned is gone explains the image, not the
network.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch
from scipy import stats
from torch import nn

from .config import Normalization
from .errors import ConfigError

# name -> what the page calls it; the order is the menu's.
METHODS = {
    "ig": "Integrated Gradients",
    "smoothgrad": "SmoothGrad",
    "occlusion": "Occlusion",
    "gradcam": "Grad-CAM",
    "gradxinput": "Gradient × input",
}
# What each one is, in a sentence, for the card.
ABOUT = {
    "ig": "the gradient averaged along the straight path from a black image to this one, times the change: "
          "its map adds up to the score minus the black image's score",
    "smoothgrad": "the gradient of the score, averaged over 32 copies of the image with noise added (σ = 0.15): "
                  "where a small change of a pixel moves the score most",
    "occlusion": "how much the score drops when a small square around each pixel is blacked out (positive: "
                 "covering it lowers the score)",
    "gradcam": "the last convolution block's maps, weighted by the gradient of the score, upsampled to the "
               "image: where, not which pixels",
    "gradxinput": "the gradient of the score times each pixel: exact for a net whose score is a sum of pixels "
                  "times weights, a first-order estimate otherwise",
}
STEPS = 64  # Integrated Gradients' path
NOISE_SAMPLES, NOISE = 32, 0.15
DEFAULT = "ig"  # a convnet's maps until another method is chosen
SURVIVES = 0.5  # a rank correlation at or above this, with the class layer randomised, is a map that survives
RANDOM_SEED = 8128  # the re-initialised weights: not a seed a network here is built with (0, 1, ...)


class OnPixels(nn.Module):
    """The network as a function of 0..1 pixels."""

    def __init__(self, model: nn.Module, norm: Normalization):
        super().__init__()
        self.model = model
        self.register_buffer("mean", torch.tensor(norm.mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(norm.std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model((x - self.mean) / self.std)


def last_block(model: nn.Module) -> Optional[nn.Module]:
    """The last weight layer that keeps spatial maps (Grad-CAM's layer), None for a fully connected net."""
    found = [m for m in getattr(model, "weight_layers", lambda: [])()
             if any(isinstance(s, nn.Conv2d) for s in m.modules())]
    return found[-1] if found else None


def methods(model: nn.Module) -> list[str]:
    """The methods that apply to this network: Grad-CAM needs convolution maps."""
    return [m for m in METHODS if m != "gradcam" or last_block(model) is not None]


def check_method(model: nn.Module, method: str) -> str:
    if not isinstance(method, str) or method not in METHODS:
        raise ConfigError(f"There is no attribution method {str(method)[:40]!r}: choose one of {', '.join(METHODS)}.")
    if method not in methods(model):
        raise ConfigError(f"{METHODS[method]} needs a convolution layer, and this network has none.")
    return method


def attribute(model: nn.Module, image: np.ndarray, norm: Normalization, target: int, method: str) -> np.ndarray:
    """The `method` map of class `target`'s score for one uint8 (C, H, W) image: (H, W) float64."""
    from captum.attr import (InputXGradient, IntegratedGradients, LayerAttribution, LayerGradCam, NoiseTunnel,
                             Occlusion, Saliency)
    check_method(model, method)
    model = model.eval()
    device = next(model.parameters()).device
    f = OnPixels(model, norm).to(device)
    x = torch.as_tensor(np.asarray(image, dtype=np.float32) / 255.0, device=device)[None]
    target = int(target)
    if method == "ig":
        found = IntegratedGradients(f).attribute(x, baselines=torch.zeros_like(x), target=target, n_steps=STEPS,
                                                 internal_batch_size=STEPS)
    elif method == "smoothgrad":
        found = NoiseTunnel(Saliency(f)).attribute(x, nt_type="smoothgrad", nt_samples=NOISE_SAMPLES,
                                                   nt_samples_batch_size=NOISE_SAMPLES, stdevs=NOISE, target=target,
                                                   abs=False)
    elif method == "occlusion":
        c, h, _ = x.shape[1:]
        side = max(2, h // 7)
        found = Occlusion(f).attribute(x, sliding_window_shapes=(c, side, side), strides=(c, max(1, side // 2),
                                                                                             max(1, side // 2)),
                                       baselines=0.0, target=target, perturbations_per_eval=64)
    elif method == "gradcam":  # its hook goes on a private copy: the checkpoint's model is every thread's
        mine = private(f)
        cam = LayerGradCam(mine, last_block(mine.model)).attribute(x, target=target, relu_attributions=True)
        found = LayerAttribution.interpolate(cam, tuple(x.shape[2:]), interpolate_mode="bilinear")
    else:
        found = InputXGradient(f).attribute(x.requires_grad_(True), target=target)
    return found.detach()[0].sum(0).double().cpu().numpy()


def private(model: nn.Module) -> nn.Module:
    """A copy of `model` without any hook another thread may have put on the original meanwhile."""
    copied = copy.deepcopy(model)
    for m in copied.modules():
        m._forward_hooks.clear()
        m._forward_pre_hooks.clear()
        m._backward_hooks.clear()
    return copied


@torch.no_grad()
def randomised(model: nn.Module, layers: int, seed: int = RANDOM_SEED) -> nn.Module:
    """A copy of `model` with its last `layers` weight layers re-initialised, as PyTorch initialises a new layer
    (uniform within 1/sqrt(fan-in)), from a generator of its own: the same draws whatever other threads do with
    the global one. Batch norms are reset (weight 1, bias 0, running statistics 0 and 1)."""
    copied = private(model).eval()
    g = torch.Generator().manual_seed(seed)
    for layer in copied.weight_layers()[::-1][:layers]:
        for m in layer.modules():
            if isinstance(m, (nn.Linear, nn.Conv2d)):
                bound = 1.0 / float(np.sqrt(m.weight[0].numel()))
                for p in (m.weight, m.bias):
                    if p is not None:
                        p.copy_(torch.empty(p.shape).uniform_(-bound, bound, generator=g))
            elif isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.reset_parameters()  # deterministic: ones, zeros, and fresh running statistics
    return copied


def rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation of two maps (0 where either is constant)."""
    a, b = np.ravel(a), np.ravel(b)
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return 0.0
    return float(stats.spearmanr(a, b).statistic)


@dataclass(frozen=True)
class Step:
    title: str  # what has been randomised so far, in the page's words
    map: np.ndarray
    correlation: float  # with the trained network's map, of the signed values
    magnitude: float  # of the absolute values (what a heat map in one colour would show)


@dataclass(frozen=True)
class Check:
    method: str
    trained: np.ndarray
    steps: list  # [Step], the class layer randomised first

    @property
    def survives(self) -> bool:
        """Whether the map stays alike (rank correlation >= 0.5) with the class layer randomised, or with every
        layer randomised: then it does not show what the network learned for this class."""
        return bool(self.steps) and max(self.steps[0].correlation, self.steps[-1].correlation) >= SURVIVES


def cascade(model: nn.Module, image: np.ndarray, norm: Normalization, target: int, method: str,
            seed: int = RANDOM_SEED) -> Check:
    """Adebayo's cascade for one image and class: the trained map, then one map per layer randomised."""
    check_method(model, method)
    if not hasattr(model, "weight_layers"):
        raise ConfigError("This kind of network does not say which layers hold its weights, so its maps cannot "
                          "be checked by randomising them.")
    trained = attribute(model, image, norm, target, method)
    titles = [title for title, _, _ in model.unit_layers()]
    steps = []
    for depth in range(1, len(titles) + 1):
        found = attribute(randomised(model, depth, seed), image, norm, target, method)
        done = titles[::-1][:depth]
        title = (f"{done[0]} randomised" if depth == 1 else
                 "every layer randomised" if depth == len(titles) else f"down to {done[-1]} randomised")
        steps.append(Step(title, found, rank_correlation(trained, found),
                          rank_correlation(np.abs(trained), np.abs(found))))
    return Check(method, trained, steps)
