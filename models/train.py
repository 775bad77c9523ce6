"""A fast, seeded training loop over in-memory uint8 tensors, with progress callbacks and cancellation."""
from __future__ import annotations

import contextlib
import math
import threading
import time
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from . import kinds
from .config import Normalization, TrainConfig
from .datasets import ImageSet
from .errors import TrainingCancelled


@dataclass(frozen=True)
class Progress:
    """One progress report: the CLI draws a bar from it, the dashboard a progress bar."""
    epoch: int  # 1-based
    epochs: int
    step: int  # batches done so far, over all epochs
    total_steps: int
    loss: float  # mean loss over this epoch so far
    accuracy: float  # training accuracy over this epoch so far
    seconds: float

    @property
    def fraction(self) -> float:
        return self.step / max(1, self.total_steps)


ProgressFn = Callable[[Progress], None]
SnapshotFn = Callable[[int, nn.Module], None]  # (batches done, the model in eval mode)


@dataclass
class TrainReport:
    seconds: float
    history: list[dict]  # one entry per epoch: loss and training accuracy


def fit(arch: str, data: ImageSet, norm: Normalization, cfg: TrainConfig, device: str = "cpu",
        on_progress: Optional[ProgressFn] = None, cancel: Optional[threading.Event] = None,
        report_every: int = 20, on_snapshot: Optional[SnapshotFn] = None,
        snapshot_steps: tuple[int, ...] = ()) -> tuple[nn.Module, TrainReport]:
    """Build `arch` from the seed and train it on `data`; raises TrainingCancelled if `cancel` is set.

    `on_snapshot(step, model)` runs after each step in `snapshot_steps` (0: before the first batch). The
    time it takes is not counted as training time, and it must leave the weights as they are.
    """
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    kind = kinds.get(arch)
    model = kind.build(data.images.shape[1:], len(data.classes), **cfg.arch_args).to(device)
    channels_last = kind.channels_last
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    images, labels = data.images.to(device), data.labels.to(device)
    n = len(labels)
    # Batches are gathered with index_select from a 2-D view: on CPU it is about twice as fast as
    # advanced indexing of the 4-D tensor, which was a quarter of an epoch of the 1-layer net.
    rows, shape = images.reshape(n, -1), images.shape[1:]
    steps_per_epoch = math.ceil(n / cfg.batch_size)
    total = steps_per_epoch * cfg.epochs
    opt, sched = _optimizer(model, cfg, total)
    params = [p for p in model.parameters() if p.requires_grad]
    first_weights = first_layer_images(model) if cfg.smoothness else None
    use_bf16 = cfg.bf16 and torch.device(device).type in ("cpu", "cuda")
    # Entering a disabled autocast still costs a little on every step; skip it when it does nothing.
    autocast = (lambda: torch.autocast(torch.device(device).type, dtype=torch.bfloat16)) if use_bf16 \
        else contextlib.nullcontext
    scale, shift = norm.affine(device)
    start, history, step = time.perf_counter(), [], 0
    wanted, paused = set(snapshot_steps), 0.0
    averaged = Average(model, cfg.average) if cfg.average else None

    def snapshot() -> None:
        nonlocal paused
        if on_snapshot is None or step not in wanted:
            return
        began = time.perf_counter()
        model.eval()
        with averaged.swapped() if averaged is not None else contextlib.nullcontext():
            on_snapshot(step, model)
        model.train()
        paused += time.perf_counter() - began

    model.train()
    snapshot()
    for epoch in range(1, cfg.epochs + 1):
        epoch_began, paused_before = time.perf_counter(), paused
        order = torch.randperm(n, generator=gen).to(device)
        stats = EpochStats(device)
        for batch in order.split(cfg.batch_size):
            if cancel is not None and cancel.is_set():
                raise TrainingCancelled(f"training of {arch} cancelled after {step} of {total} steps")
            x = rows.index_select(0, batch).view(-1, *shape)
            if cfg.augment:
                x = augment(x, gen)
            x = x.float().mul_(scale).sub_(shift)
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            y = labels.index_select(0, batch)
            with autocast():
                logits = model(x)
            loss = F.cross_entropy(logits.float(), y, label_smoothing=cfg.label_smoothing)
            if cfg.smoothness:
                loss = loss + cfg.smoothness * roughness(first_weights)
            for p in params:  # what zero_grad(set_to_none=True) does, without its per-call hooks
                p.grad = None
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            if averaged is not None:  # what is reported is the averaged network's, the one training returns
                averaged.update()
                with torch.no_grad():
                    logits = averaged.logits(x)
                    loss = F.cross_entropy(logits.float(), y, label_smoothing=cfg.label_smoothing)
            stats.add(logits, y, loss)
            if on_progress is not None and (step % report_every == 0 or stats.seen == n):
                on_progress(Progress(epoch, cfg.epochs, step, total, *stats.values(),
                                     time.perf_counter() - start - paused))
            snapshot()
        epoch_loss, epoch_accuracy = stats.values()
        seconds = time.perf_counter() - epoch_began - (paused - paused_before)
        history.append({"epoch": epoch, "loss": epoch_loss, "train_accuracy": epoch_accuracy,
                        "seconds": round(seconds, 4)})
    if averaged is not None:
        averaged.install()
    model.eval()
    return model, TrainReport(time.perf_counter() - start - paused, history)


class Average:
    """An exponential moving average of a model's parameters and buffers. The rate warms up, (1 + t) / (10 + t)
    until it reaches `decay`, so the first steps are not held back by the starting weights."""

    def __init__(self, model: nn.Module, decay: float):
        if not 0 < decay < 1:
            raise ValueError(f"the weight average's decay is between 0 and 1, not {decay!r}")
        self.model, self.decay, self.steps = model, float(decay), 0
        named = [(k, t) for k, t in [*model.named_parameters(), *model.named_buffers()] if t.dtype.is_floating_point]
        self.names, self.live = [k for k, _ in named], [t for _, t in named]
        self.mean = [t.detach().clone() for t in self.live]

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """The averaged network's output for a batch, the model's own weights untouched."""
        return torch.func.functional_call(self.model, dict(zip(self.names, self.mean)), (x,))

    @torch.no_grad()
    def update(self) -> None:
        self.steps += 1
        keep = min(self.decay, (1 + self.steps) / (10 + self.steps))
        torch._foreach_lerp_(self.mean, [t.detach() for t in self.live], 1 - keep)

    @contextlib.contextmanager
    def swapped(self):
        """The model holds the average while inside, its own weights again after."""
        saved = [t.detach().clone() for t in self.live]
        self.install()
        try:
            yield
        finally:
            with torch.no_grad():
                for t, s in zip(self.live, saved):
                    t.copy_(s)

    @torch.no_grad()
    def install(self) -> None:
        for t, m in zip(self.live, self.mean):
            t.copy_(m)


def first_layer_images(model: nn.Module) -> torch.Tensor:
    """A fully connected network's first weight matrix, viewed as one image per unit (units, C, H, W)."""
    first = next(m for m in model.modules() if isinstance(m, nn.Linear))
    return first.weight.view(first.out_features, *model.in_shape)


def roughness(w: torch.Tensor) -> torch.Tensor:
    """The squared discrete Laplacian (4 times each weight minus its four neighbours, zero outside the
    image), summed per image and averaged over images. Smooth shapes cost little, pixel noise a lot:
    one isolated weight of 1 costs 4² + 4·1² = 20. Outside the image counts as zero, so the frame of
    pixels that are never ink is pulled to zero too."""
    lap = F.pad(w, (1, 1, 1, 1))
    lap = 4 * w - lap[..., :-2, 1:-1] - lap[..., 2:, 1:-1] - lap[..., 1:-1, :-2] - lap[..., 1:-1, 2:]
    return lap.square().sum() / len(w)


class EpochStats:
    """Mean loss and accuracy over an epoch so far, counted a few dozen steps at a time.

    Counting on every step took four small ops (argmax, compare, sum, add), about 5% of an epoch of
    the small nets; batching them keeps the numbers exact. The sums stay tensors: reading one forces
    a device sync, so that happens only when a value is asked for.
    """

    def __init__(self, device, every: int = 32):
        self.pending: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
        self.loss_sum = torch.zeros((), dtype=torch.float64, device=device)
        self.correct = torch.zeros((), dtype=torch.int64, device=device)
        self.seen, self.every = 0, every

    def add(self, logits: torch.Tensor, labels: torch.Tensor, loss: torch.Tensor) -> None:
        self.pending.append((logits.detach(), labels, loss.detach()))
        self.seen += len(labels)
        if len(self.pending) >= self.every:
            self._flush()

    def _flush(self) -> None:
        if not self.pending:
            return
        logits, labels, losses = zip(*self.pending)
        sizes = torch.tensor([len(y) for y in labels], dtype=torch.float64, device=self.loss_sum.device)
        self.loss_sum += (torch.stack(losses).double() * sizes).sum()
        self.correct += (torch.cat(logits).argmax(1) == torch.cat(labels)).sum()
        self.pending.clear()

    def values(self) -> tuple[float, float]:
        """(mean loss, accuracy) over the samples seen so far."""
        self._flush()
        return float(self.loss_sum) / max(1, self.seen), float(self.correct) / max(1, self.seen)


def _optimizer(model: nn.Module, cfg: TrainConfig, total_steps: int):
    # No weight decay on biases and norm parameters: it only slows them down.
    decay = [p for p in model.parameters() if p.ndim > 1]
    rest = [p for p in model.parameters() if p.ndim <= 1]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": rest, "weight_decay": 0.0}]
    if not cfg.weight_decay:  # one group when nothing decays: each group costs ~10 us per fused step
        groups = [{"params": decay + rest, "weight_decay": 0.0}]
    if cfg.optimizer == "adam":
        # fused: one kernel per step instead of a dozen small ones (the step dominates for small nets)
        opt = torch.optim.AdamW(groups, lr=cfg.lr, fused=True)
    elif cfg.optimizer == "sgd":
        opt = torch.optim.SGD(groups, lr=cfg.lr, momentum=0.9, nesterov=True)
    else:
        raise ValueError(f"unknown optimizer {cfg.optimizer!r}: use 'adam' or 'sgd'")
    return opt, WarmupLinear(opt, total_steps)


class WarmupLinear:
    """The learning rate: a linear warm-up over the first 10% of steps, then a linear decay to 0.

    It sets each group's rate directly; LambdaLR's bookkeeping on every step cost about 3% of an
    epoch of the 1-layer net. Like LambdaLR, step i (0-based) runs at base_lr * factor(i).
    """

    def __init__(self, opt: torch.optim.Optimizer, total_steps: int):
        self.opt, self.total, self.warmup = opt, total_steps, max(1, total_steps // 10)
        self.base = [group["lr"] for group in opt.param_groups]
        self.done = 0
        self._apply()

    def factor(self, step: int) -> float:
        if step < self.warmup:
            return (step + 1) / self.warmup
        return max(0.0, (self.total - step) / max(1, self.total - self.warmup))

    def step(self) -> None:
        self.done += 1
        self._apply()

    def _apply(self) -> None:
        f = self.factor(self.done)
        for group, base in zip(self.opt.param_groups, self.base):
            group["lr"] = base * f


def augment(images: torch.Tensor, gen: torch.Generator, pad: int = 4) -> torch.Tensor:
    """Random shifts of up to `pad` pixels (zero fill) and horizontal flips, one draw per image."""
    b, c, h, w = images.shape
    padded = F.pad(images, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (b,), generator=gen).to(images.device)
    dx = torch.randint(0, 2 * pad + 1, (b,), generator=gen).to(images.device)
    flip = torch.rand(b, generator=gen).to(images.device) < 0.5
    cols = torch.arange(w, device=images.device).expand(b, w)
    cols = torch.where(flip[:, None], w - 1 - cols, cols) + dx[:, None]
    rows = torch.arange(h, device=images.device)[None] + dy[:, None]
    idx_b = torch.arange(b, device=images.device)[:, None, None, None]
    idx_c = torch.arange(c, device=images.device)[None, :, None, None]
    return padded[idx_b, idx_c, rows[:, None, :, None], cols[:, None, None, :]]


@torch.no_grad()
def predict_proba(model: nn.Module, images: torch.Tensor, norm: Normalization, device: str = "cpu",
                  batch_size: int = 1000) -> np.ndarray:
    """Class probabilities for uint8 images, in their given order, as float32 (N, classes)."""
    model.eval()
    out = []
    for chunk in images.split(batch_size):
        x = norm.apply(chunk.to(device))
        out.append(torch.softmax(model(x).float(), dim=1).cpu())
    return torch.cat(out).numpy().astype(np.float32)
