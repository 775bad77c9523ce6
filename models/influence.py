"""Which training images taught the network its answer: TracIn (Pruthi et al., 2020) over the training timeline.

The influence of training image z on test image z' is the sum over checkpoints k of the learning rate eta_k
times the dot product of the loss gradients at z and z': a training step on z lowers the loss of z' by about
that much. The loss of z' is taken at the class the network predicts for it, so the proponents (the largest
scores) are the training images that pushed it towards its answer, right or wrong, and the opponents (the
most negative) those that pulled it away.

Each checkpoint is a stored timeline snapshot; its eta_k is the sum of the learning rates over the steps since
the snapshot before it (the steps it stands for). The 1-layer nets' snapshots are the averaged weights
(models/train.py `Average`): an approximation of the weights each step was taken from.

Every parameter of a fully connected net is a linear layer's, and a linear layer's per-image gradient is rank
one: dL/dW = g a^T for the layer's input a and the gradient g at its output. The dot product of two images'
gradients is then (g . g')(a . a' + 1), bias included: no per-image gradient is ever formed. For the 1-layer
net, g is softmax - onehot and a the normalised pixels, so one matrix of g per checkpoint scores all 60,000
training images against a test image in milliseconds.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

from .config import Normalization
from .errors import ConfigError, TrainingCancelled
from .nets import LinearNet

TOP = 8
CHUNK = 4096


@dataclass(frozen=True)
class Checkpoint:
    model: nn.Module
    weight: float  # the learning rates summed over the steps since the checkpoint before
    step: int


def learning_rates(cfg, n_train: int) -> Callable[[int], float]:
    """The rate of step i (0-based) under the trainer's schedule (models/train.py WarmupLinear)."""
    total = math.ceil(n_train / cfg.batch_size) * cfg.epochs
    warmup = max(1, total // 10)

    def rate(step: int) -> float:
        if step < warmup:
            return cfg.lr * (step + 1) / warmup
        return cfg.lr * max(0.0, (total - step) / max(1, total - warmup))
    return rate


def weights(steps: Sequence[int], rate: Callable[[int], float]) -> list[float]:
    """eta_k for checkpoints after steps[k] (ascending): the rates of steps (steps[k-1], steps[k]]."""
    found, before = [], 0
    for step in steps:
        found.append(float(sum(rate(s) for s in range(before, step))))
        before = step
    return found


def check_fully_connected(model: nn.Module) -> None:
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    owned = sum(p.numel() for m in linears for p in m.parameters())
    if not linears or owned != sum(p.numel() for p in model.parameters()):
        raise ConfigError("Which training images taught it is computed for the fully connected nets; "
                          "a convnet's filters are not all linear layers.")


def _parts(model: nn.Module, x: torch.Tensor, target: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(a, g) of every linear layer for a batch: its input and the loss gradient at its output, per image."""
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    inputs, outputs = {}, {}

    def hook(module, args, output):
        inputs[module], outputs[module] = args[0].detach().flatten(1), output
    handles = [m.register_forward_hook(hook) for m in linears]
    try:
        with torch.enable_grad():
            logits = model(x)
            loss = F.cross_entropy(logits, target, reduction="sum")  # summed: each image's own gradient
            grads = torch.autograd.grad(loss, [outputs[m] for m in linears])
    finally:
        for h in handles:
            h.remove()
    return [(inputs[m], g.detach()) for m, g in zip(linears, grads)]


def scores(checkpoints: Sequence[Checkpoint], images: torch.Tensor, labels: torch.Tensor, norm: Normalization,
           image: np.ndarray, target: int, chunk: int = CHUNK, cancel=None,
           on_chunk: Optional[Callable[[int, int], None]] = None) -> np.ndarray:
    """The TracIn score of every training image (uint8 images, labels) on one image (uint8 (C, H, W)) at class
    `target`, for any fully connected net: (N,) float64."""
    total = np.zeros(len(images), dtype=np.float64)
    x_t = norm.apply(torch.as_tensor(np.ascontiguousarray(image))[None])
    y_t = torch.tensor([int(target)])
    done, work = 0, len(checkpoints) * len(images)
    for ck in checkpoints:
        model = ck.model.eval()
        check_fully_connected(model)
        test = _parts(model, x_t, y_t)
        for start in range(0, len(images), chunk):
            if cancel is not None and cancel.is_set():
                raise TrainingCancelled("stopped")
            x = norm.apply(images[start:start + chunk])
            found = torch.zeros(len(x), dtype=torch.float64)
            for (a, g), (a_t, g_t) in zip(_parts(model, x, labels[start:start + chunk]), test):
                found += ((g @ g_t[0]) * (a @ a_t[0] + 1)).double()
            total[start:start + len(x)] += ck.weight * found.numpy()
            done += len(x)
            if on_chunk is not None:
                on_chunk(done, work)
    return total


class LinearScorer:
    """The 1-layer net's TracIn, rank one: per checkpoint, softmax - onehot of every training image is kept
    (N x classes), so scoring all of them against a test image is a few matrix-vector products."""

    def __init__(self, checkpoints: Sequence[Checkpoint], images: torch.Tensor, labels: torch.Tensor,
                 norm: Normalization, chunk: int = CHUNK):
        self.norm, self.images, self.chunk = norm, images, chunk
        self.models = [c.model.eval() for c in checkpoints]
        if not all(isinstance(m, LinearNet) for m in self.models):
            raise ConfigError("the rank-one scorer is for the 1-layer net")
        self.weights = np.array([c.weight for c in checkpoints], dtype=np.float64)
        onehot = F.one_hot(labels.long(), self.models[0].fc.out_features).float()
        self.g = []  # per checkpoint: (N, classes) float32
        with torch.no_grad():
            for m in self.models:
                parts = []
                for start in range(0, len(images), chunk):
                    logits = m(norm.apply(images[start:start + chunk]))
                    parts.append(torch.softmax(logits, 1) - onehot[start:start + chunk])
                self.g.append(torch.cat(parts))

    @property
    def nbytes(self) -> int:  # what a bounded cache counts it as
        return sum(g.element_size() * g.nelement() for g in self.g)

    @torch.no_grad()
    def scores(self, image: np.ndarray, target: int) -> np.ndarray:
        x_t = self.norm.apply(torch.as_tensor(np.ascontiguousarray(image))[None])
        dots = torch.cat([self.norm.apply(self.images[s:s + self.chunk]).flatten(1) @ x_t[0].flatten()
                          for s in range(0, len(self.images), self.chunk)]).double() + 1.0
        mixed = torch.zeros(len(self.images), dtype=torch.float64)
        for m, g, w in zip(self.models, self.g, self.weights):
            g_t = torch.softmax(m(x_t), 1)[0]
            g_t[int(target)] -= 1.0
            mixed += w * (g @ g_t).double()
        return (mixed * dots).numpy()


def ranked(values: np.ndarray, top: int = TOP) -> dict:
    """{"proponents": [[index, score], ...] highest first, "opponents": lowest first}."""
    order = np.argsort(-values, kind="stable")
    low = np.argsort(values, kind="stable")
    return {"proponents": [[int(i), float(values[i])] for i in order[:top]],
            "opponents": [[int(i), float(values[i])] for i in low[:top]]}


def timeline_checkpoints(zoo, ckpt, n_train: int) -> list[Checkpoint]:
    """The checkpoints TracIn sums over: every stored snapshot after the first step, and the finished network
    if the timeline stops short of it, each weighted by the learning rates of the steps it stands for.
    `n_train` is the number of images it was trained on (its schedule's length depends on it)."""
    snaps = zoo.timeline(ckpt)
    if not snaps:
        raise ConfigError("This network was trained without a timeline, and TracIn sums over its snapshots.")
    cfg = ckpt.config
    total = math.ceil(n_train / cfg.batch_size) * cfg.epochs
    kept = [(i, s.step) for i, s in enumerate(snaps) if 0 < s.step <= total]
    steps = [step for _, step in kept] + ([total] if not kept or kept[-1][1] < total else [])
    etas = weights(steps, learning_rates(cfg, n_train))
    models = [zoo.snapshot(ckpt, i).model for i, _ in kept] + ([ckpt.model] if len(steps) > len(kept) else [])
    return [Checkpoint(m, w, s) for m, w, s in zip(models, etas, steps)]
