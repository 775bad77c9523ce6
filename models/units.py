"""What one unit responds to: its activation over a split, the images that drive it highest and lowest, how it
fires for each class, the weights it sends on, and the input that drives it hardest (feature visualisation).

Layers and units are numbered as the page labels them: layer 1 is the first hidden layer (or block), unit 1
its first unit; the class scores are the last layer, their units the classes. A unit's activation on an image
is one number: a fully connected unit's output, or the largest value of a convolution channel's map.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

from .config import Normalization
from .errors import ConfigError, TrainingCancelled

TOP = 24  # images shown at each end of a unit's range


@dataclass(frozen=True)
class UnitLayer:
    number: int  # 1-based, as the page and the command line name it
    title: str  # "hidden layer 1", "convolution block 2", "class scores"
    count: int
    noun: str  # "unit", "filter", "class"

    @property
    def classes(self) -> bool:
        return self.noun == "class"


def unit_layers(model: nn.Module) -> list[UnitLayer]:
    """Every layer whose units can be looked at, first to last (the class scores last)."""
    own = getattr(model, "unit_layers", None)
    if own is not None:
        found = own()
    else:  # a kind without a unit view of its own: the layers it hands the maps, one row per image each
        found = [(title, 0, "class" if key == "logits" else "unit") for key, title in model.layers()]
        x = torch.zeros(1, *model.in_shape)
        with torch.no_grad():
            found = [(t, int(r.shape[-1]), n) for (t, _, n), r in zip(found, model.eval().representations(x))]
    return [UnitLayer(i + 1, title, int(count), noun) for i, (title, count, noun) in enumerate(found)]


def find(model: nn.Module, layer, unit) -> tuple[UnitLayer, int]:
    """The layer and the 0-based unit that page numbers (layer, unit) name; ConfigError in one sentence if none."""
    found = unit_layers(model)
    if not isinstance(layer, int) or isinstance(layer, bool) or not 1 <= layer <= len(found):
        raise ConfigError(f"This network has layers 1 to {len(found)}; there is no layer {str(layer)[:12]}.")
    chosen = found[layer - 1]
    if not isinstance(unit, int) or isinstance(unit, bool) or not 1 <= unit <= chosen.count:
        raise ConfigError(f"Layer {layer} ({chosen.title}) has {chosen.noun}s 1 to {chosen.count}; "
                          f"there is no {chosen.noun} {str(unit)[:12]}.")
    return chosen, unit - 1


def _maps(model: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    own = getattr(model, "unit_maps", None)
    return own(x) if own is not None else model.representations(x)


def pooled(output: torch.Tensor) -> torch.Tensor:
    """One number per image and unit: (B, count) as it is; a map's or a token sequence's largest value."""
    if output.dim() == 4:  # (B, C, H, W)
        return torch.amax(output, dim=(2, 3))
    if output.dim() == 3:  # (B, N, D): the channels of every token
        return torch.amax(output, dim=1)
    return output


@torch.no_grad()
def activations(model: nn.Module, images: torch.Tensor, norm: Normalization, device: str = "cpu",
                batch: int = 1000, layer: Optional[int] = None,
                on_batch: Optional[Callable[[int, int], None]] = None, cancel=None) -> list[np.ndarray]:
    """Every unit layer's activations for uint8 images (N, C, H, W): one (N, count) float32 array per layer,
    or only layer `layer` (1-based) in a list of one."""
    model = model.eval()
    parts: list[list[np.ndarray]] = []
    for start in range(0, len(images), batch):
        if cancel is not None and cancel.is_set():
            raise TrainingCancelled("stopped")
        x = norm.apply(images[start:start + batch].to(device))
        maps = _maps(model, x)
        if layer is not None:
            maps = [maps[layer - 1]]
        found = [pooled(m).float().cpu().numpy() for m in maps]
        if not parts:
            parts = [[] for _ in found]
        for kept, f in zip(parts, found):
            kept.append(f)
        if on_batch is not None:
            on_batch(min(start + batch, len(images)), len(images))
    return [np.concatenate(p) for p in parts]


@dataclass(frozen=True)
class Profile:
    """One unit over a split: its activation on every image, its extremes and its classes."""
    activations: np.ndarray  # (N,) float32
    top: np.ndarray  # indices, highest first
    bottom: np.ndarray  # indices, lowest first; empty where the unit cannot go below zero
    class_means: np.ndarray  # (classes,)
    class_boxes: list[dict]  # per class: q1, median, q3, lower and upper whisker (5th and 95th percentiles), mean

    def summary(self) -> dict:
        return {"top": self.top.tolist(), "bottom": self.bottom.tolist(),
                "activations": [round(float(v), 6) for v in self.activations],
                "class_means": [round(float(v), 6) for v in self.class_means]}


def profile(values: np.ndarray, labels: np.ndarray, classes: int, top: int = TOP) -> Profile:
    """A unit's activations (N,) over a split with its labels: extremes (stable order: ties by index) and its
    activation's distribution within each true class."""
    values = np.asarray(values, dtype=np.float32)
    order = np.argsort(-values, kind="stable")
    negative = bool(values.min() < 0)  # tanh, GELU, a class score: its lowest images say something too
    bottom = np.argsort(values, kind="stable")[:top] if negative else np.zeros(0, dtype=np.int64)
    labels = np.asarray(labels)
    means, boxes = np.zeros(classes, dtype=np.float64), []
    for c in range(classes):
        own = values[labels == c]
        if len(own) == 0:
            boxes.append(None)
            continue
        means[c] = float(own.mean())
        lo, q1, med, q3, hi = np.percentile(own, [5, 25, 50, 75, 95])
        boxes.append({"lowerfence": float(lo), "q1": float(q1), "median": float(med), "q3": float(q3),
                      "upperfence": float(hi), "mean": float(own.mean())})
    return Profile(values, order[:top], bottom, means, boxes)


def filters(model: nn.Module, layer: UnitLayer) -> Optional[torch.Tensor]:
    own = getattr(model, "unit_filters", None)
    return None if own is None else own(layer.number - 1)


def outgoing(model: nn.Module, layer: UnitLayer) -> Optional[torch.Tensor]:
    """(next units or classes, count): how much each of the layer's units adds to each unit it feeds."""
    own = getattr(model, "unit_outgoing", None)
    return None if own is None else own(layer.number - 1)


# Feature visualisation: the input that drives one unit hardest.

@dataclass(frozen=True)
class Visualisation:
    image: np.ndarray  # (C, H, W) float32 in 0..1 (or anywhere, in a ball's oracle run)
    activation: float  # the unit's activation on it, measured as the top images are ranked
    steps: int
    seconds: float


def _objective(model: nn.Module, x: torch.Tensor, layer: int, unit: int) -> torch.Tensor:
    """What the ascent raises, per image: a unit's output, or the mean of a channel's map (so the pattern fills
    the image), with a token sequence's channel averaged over its tokens."""
    out = _maps(model, x)[layer - 1]
    if out.dim() == 4:
        return out[:, unit].mean(dim=(1, 2))
    if out.dim() == 3:
        return out[:, :, unit].mean(dim=1)
    return out[:, unit]


def _measure(model: nn.Module, x: torch.Tensor, layer: int, unit: int) -> torch.Tensor:
    return pooled(_maps(model, x)[layer - 1])[:, unit]


def _centre(model: nn.Module, x: torch.Tensor, layer: int, unit: int) -> torch.Tensor:
    """A channel's value at the centre of its map (a unit's output as it is). Ascent on a map's largest value
    sends its gradient to wherever that is, often the edge, where the zero padding caps it: a local optimum
    below what the middle can reach. The centre is never at an edge."""
    out = _maps(model, x)[layer - 1]
    if out.dim() == 4:
        return out[:, unit, out.shape[2] // 2, out.shape[3] // 2]
    return _objective(model, x, layer, unit)


def _blur(x: torch.Tensor) -> torch.Tensor:
    """A 3x3 binomial blur per channel, its edges replicated: the prior against high frequencies."""
    c = x.shape[1]
    k = torch.tensor([1.0, 2.0, 1.0], dtype=x.dtype)
    k = (k[:, None] * k[None, :]) / 16
    return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), k.expand(c, 1, 3, 3).contiguous(), groups=c)


STEPS = 256  # the ascent's steps with its priors, before any that follow to beat the best test image


def visualise(model: nn.Module, norm: Normalization, layer: int, unit: int, steps: int = STEPS, seed: int = 0,
              lr: float = 0.05, starts: int = 8, jitter: Optional[int] = None, blur_every: int = 4, priors: bool = True,
              ball: Optional[tuple[np.ndarray, float]] = None, beat: Optional[float] = None,
              seconds: float = 30.0, around: Optional[np.ndarray] = None) -> Visualisation:
    """Gradient ascent on one unit's activation (a 1-based layer, a 0-based unit) from `starts` grey, noisy
    images at once (a ReLU unit that is off on one start has no gradient there); the best is kept. `around`
    (C, H, W) in 0..1, e.g. the split's mean image, centres half of the starts instead of grey: a unit whose bias
    keeps it off on every grey image still fires there.

    With `priors` (the page's): pixels stay in 0..1, each step sees the image shifted by up to `jitter` pixels
    (one 14th of its side), and every `blur_every` steps it is blurred a little, so what is found reads as an
    image rather than a speckle of extreme pixels. With `ball` = (centre image, radius) instead: no priors, no
    box, the image kept within that L2 distance of the centre (the oracle's setting: for a linear score the
    answer is the centre plus the radius along the weights; plain gradient steps, as Adam's per-pixel scaling
    would bend the path). `beat`: if the result's activation is below it
    (the best test image's), more steps without the blur follow until it is reached, within `seconds`; for a
    convnet channel they raise the centre of its map (`_centre`)."""
    started = time.monotonic()
    model = model.eval()
    device = next(model.parameters()).device
    for p in model.parameters():
        p.requires_grad_(False)
    try:
        c, h, w = model.in_shape
        g = torch.Generator().manual_seed(seed)  # on the CPU: the same starts and shifts on any device
        mean = torch.tensor(norm.mean, dtype=torch.float32, device=device).view(1, -1, 1, 1)
        std = torch.tensor(norm.std, dtype=torch.float32, device=device).view(1, -1, 1, 1)
        if ball is not None:
            centre = torch.as_tensor(np.asarray(ball[0], dtype=np.float32)).reshape(1, c, h, w).to(device)
            radius = float(ball[1])
            x = centre.clone()
        else:
            centre, radius = None, 0.0
            base = torch.full((starts, c, h, w), 0.5)
            if around is not None:
                base[starts // 2:] = torch.as_tensor(np.asarray(around, dtype=np.float32)).reshape(c, h, w)
            x = (base + 0.15 * torch.randn(starts, c, h, w, generator=g)).clamp(0, 1).to(device)
        x.requires_grad_(True)
        opt = torch.optim.SGD([x], lr=lr) if centre is not None else torch.optim.Adam([x], lr=lr)
        shift = max(1, h // 14) if jitter is None else jitter
        done = 0

        def step(with_priors: bool, goal=_objective) -> None:
            seen = x
            if with_priors and shift:
                dy, dx = (int(v) for v in torch.randint(-shift, shift + 1, (2,), generator=g))
                seen = torch.roll(x, shifts=(dy, dx), dims=(2, 3))
            loss = -goal(model, (seen - mean) / std, layer, unit).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
            with torch.no_grad():
                if centre is not None:
                    away = x - centre
                    size = float(away.norm())
                    if size > radius:
                        x.copy_(centre + away * (radius / size))
                else:
                    if with_priors and blur_every and (done + 1) % blur_every == 0:
                        x.copy_(0.5 * x + 0.5 * _blur(x))
                    x.clamp_(0, 1)

        for _ in range(steps):
            step(priors and centre is None)
            done += 1
        if beat is not None and centre is None:
            while done < steps * 8 and time.monotonic() - started < seconds:
                with torch.no_grad():
                    if float(_measure(model, (x - mean) / std, layer, unit).max()) >= beat:
                        break
                for _ in range(16):
                    step(False, _centre)
                    done += 1
        with torch.no_grad():
            reached = _measure(model, (x - mean) / std, layer, unit)
        best = int(torch.argmax(reached))
        return Visualisation(x.detach()[best].cpu().numpy().astype(np.float32), float(reached[best]), done,
                             time.monotonic() - started)
    finally:
        for p in model.parameters():
            p.requires_grad_(True)


def fooling_image(model: nn.Module, norm: Normalization, target: int, confidence: float = 0.99, seed: int = 0,
                  steps: int = 400, seconds: float = 20.0, starts: int = 8) -> tuple[np.ndarray, np.ndarray, int]:
    """After Nguyen et al., "Deep neural networks are easily fooled": from uniform noise, gradient ascent on the
    log-probability of `target` until the network gives it `confidence`, pixels kept in 0..1 (no priors: what
    it finds need not look like anything). `starts` noise images at once, from faint to full (a ReLU net may
    be dead on one of them), the first to get there kept. Returns (image (C, H, W), its probabilities, steps)."""
    started = time.monotonic()
    model = model.eval()
    c, h, w = model.in_shape
    device = next(model.parameters()).device
    g = torch.Generator().manual_seed(seed)
    mean = torch.tensor(norm.mean, dtype=torch.float32, device=device).view(1, -1, 1, 1)
    std = torch.tensor(norm.std, dtype=torch.float32, device=device).view(1, -1, 1, 1)
    amplitude = torch.linspace(0.15, 1.0, starts).view(-1, 1, 1, 1)
    x = (torch.rand(starts, c, h, w, generator=g) * amplitude).to(device).requires_grad_(True)
    opt = torch.optim.Adam([x], lr=0.02)
    done = 0
    for done in range(1, steps + 1):
        logp = torch.log_softmax(model((x - mean) / std), 1)[:, target]
        if float(logp.detach().max().exp()) >= confidence or time.monotonic() - started > seconds:
            break
        opt.zero_grad()
        (-logp.sum()).backward()
        opt.step()
        with torch.no_grad():
            x.clamp_(0, 1)
    with torch.no_grad():
        probs = torch.softmax(model((x - mean) / std), 1)
        best = int(torch.argmax(probs[:, target]))
    return x.detach()[best].cpu().numpy(), probs[best].cpu().numpy(), done
