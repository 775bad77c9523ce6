"""What each layer turns the images into: features, their 2-D maps, how well classes separate, nearest
training images, and what changes when units are switched off. Torch and numpy only."""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Iterator, Optional, Sequence

import numpy as np
import torch
from torch import nn

from .config import Normalization
from .errors import TrainingCancelled
from .nets import Units

INPUT = "input"
BATCH = 1000


@dataclass(frozen=True)
class Layer:
    key: str  # "input", "hidden1".., "pooled", "logits"
    title: str


def layers(model: nn.Module) -> list[Layer]:
    """The representations a network has, input pixels first and class scores last."""
    return [Layer(INPUT, "input pixels"), *(Layer(k, t) for k, t in model.layers())]


def keys(model: nn.Module) -> tuple[str, ...]:
    return tuple(layer.key for layer in layers(model))


def pixels(images: torch.Tensor) -> torch.Tensor:
    """The input layer: every image's pixels on a 0..1 scale, flattened. It is the same for every network
    of a dataset, so it is computed and cached once per dataset."""
    return images.flatten(1).float().div_(255)


@torch.no_grad()
def features(model: nn.Module, images: torch.Tensor, norm: Normalization, device: str = "cpu",
             batch: int = BATCH, on_batch=None, cancel=None) -> dict[str, np.ndarray]:
    """Every layer after the input for uint8 images, in their order: key -> (N, units) float32.
    `on_batch(done, total)` reports progress; `cancel` (an Event) stops between batches."""
    out: dict[str, list] = {}
    for found in feature_batches(model, images, norm, device, batch, on_batch, cancel):
        for k, h in found.items():
            out.setdefault(k, []).append(h)
    return {k: torch.cat(v).numpy() for k, v in out.items()}


def feature_batches(model: nn.Module, images: torch.Tensor, norm: Normalization, device: str = "cpu",
                    batch: int = BATCH, on_batch=None, cancel=None) -> Iterator[dict[str, torch.Tensor]]:
    """`features` a batch of images at a time (key -> (batch, units) float32), for a caller that writes each
    batch away rather than hold every layer of the whole split at once."""
    model.eval()
    names = [k for k, _ in model.layers()]
    done = 0
    with torch.no_grad():
        for chunk in images.split(batch):
            if cancel is not None and cancel.is_set():
                raise TrainingCancelled("stopped")
            yield {k: h.float().cpu() for k, h in zip(names, model.representations(norm.apply(chunk.to(device))))}
            done += len(chunk)
            if on_batch is not None:
                on_batch(done, len(images))


def pca(x: np.ndarray, k: int = 2, chunk: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """The first k principal components of the rows of x: (coordinates (N, k) float32, share of the variance
    each explains). Up to 1,024 units, an eigendecomposition of the covariance in float64, summed `chunk` rows
    at a time: x (often a memory-mapped layer) is never copied whole, where a centred float32 copy and a
    float64 one cost a request about three times the layer (125 MB for a 1,024-unit layer of 10,000 rows), in
    every thread that drew a map. Wider (CIFAR-10's 3,072 pixels), subspace iteration run until the leading
    variances change by less than one part in a million, exact to float32 rounding and six times faster. Each
    axis points where its largest loading is positive, so a map is reproducible."""
    if x.shape[1] > 1024:
        whole = torch.as_tensor(np.ascontiguousarray(x), dtype=torch.float32)
        mean = whole.mean(0)
        centred = whole - mean
        values, axes = _subspace_axes(centred, k)
        total = float(centred.pow(2).sum(dtype=torch.float64))
        del whole, centred  # the projection below reads x a chunk at a time, as for narrower layers
    else:
        rows, width = x.shape
        sums, gram = torch.zeros(width, dtype=torch.float64), torch.zeros(width, width, dtype=torch.float64)
        for part in _row_chunks(x, chunk):
            part = part.double()
            sums += part.sum(0)
            gram += part.T @ part
        mean64 = sums / max(rows, 1)
        values, vectors = torch.linalg.eigh(gram - rows * torch.outer(mean64, mean64))  # the centred rows' X^T X
        order = torch.argsort(values, descending=True)[:k]
        total = float(values.clamp(min=0).sum())
        values, axes, mean = values[order], vectors[:, order], mean64.float()
    signs = torch.sign(axes.gather(0, axes.abs().argmax(0, keepdim=True)))
    axes = (axes * torch.where(signs == 0, 1.0, signs)).float()
    coords = np.concatenate([((part - mean) @ axes).numpy() for part in _row_chunks(x, chunk)]) \
        if len(x) else np.zeros((0, axes.shape[1]), np.float32)
    if coords.shape[1] < k:  # fewer units than components asked for (a one-unit layer)
        coords = np.pad(coords, ((0, 0), (0, k - coords.shape[1])))
    explained = (values.clamp(min=0) / total).numpy() if total > 0 else np.zeros(len(values))
    return coords, explained


def _row_chunks(x, chunk: int) -> Iterator[torch.Tensor]:
    """The rows of an array (or a memory map), `chunk` at a time, as float32 tensors."""
    for start in range(0, len(x), chunk):
        yield torch.as_tensor(np.ascontiguousarray(x[start:start + chunk]), dtype=torch.float32)


def _subspace_axes(centred: torch.Tensor, k: int, block: int = 16, tol: float = 1e-6,
                   most: int = 300) -> tuple[torch.Tensor, torch.Tensor]:
    """The top-k eigenpairs of centredᵀ·centred by block subspace iteration with a Rayleigh-Ritz step, float64
    at the end. `(a @ v).T @ a` instead of `a.T @ (a @ v)`: the same product, ten times faster on the CPU."""
    generator = torch.Generator().manual_seed(0)
    start = torch.randn(centred.shape[0], block, generator=generator)
    v, _ = torch.linalg.qr((start.T @ centred).T)  # the range of the data: a good start
    previous = None
    for _ in range(most):
        v, r = torch.linalg.qr(((centred @ v).T @ centred).T)
        leading = torch.diagonal(r).abs()[:k].double()
        if previous is not None and torch.all((leading - previous).abs() <= tol * leading):
            break
        previous = leading
    projected = (centred @ v).double()
    values, vectors = torch.linalg.eigh(projected.T @ projected)
    order = torch.argsort(values, descending=True)[:k]
    return values[order], v.double() @ vectors[:, order]


class Means:
    """Per-class means of a representation, summed batch by batch (the training split never sits in memory
    as floats for this)."""

    def __init__(self, n_classes: int):
        self.n_classes, self.sums, self.counts = n_classes, None, torch.zeros(n_classes, dtype=torch.float64)

    def add(self, x: torch.Tensor, labels: torch.Tensor) -> None:
        x = x.double()
        if self.sums is None:
            self.sums = torch.zeros(self.n_classes, x.shape[1], dtype=torch.float64)
        self.sums.index_add_(0, labels, x)
        self.counts += torch.bincount(labels, minlength=self.n_classes).double()

    def means(self) -> np.ndarray:
        return (self.sums / self.counts.clamp(min=1)[:, None]).float().numpy()


def nearest_mean_accuracy(means: np.ndarray, test, labels: np.ndarray) -> float:
    """How well classes separate in a representation: the share of test rows whose nearest class mean
    (Euclidean, means from the training split) is their own class. `test` is the rows, or their batches in
    order (`pixel_batches`)."""
    m = torch.as_tensor(means, dtype=torch.float32)
    # A chunk of rows at a time: the whole layer's squares were another copy of it (123 MB for CIFAR-10's pixels).
    parts = _row_chunks(test, 2048) if hasattr(test, "shape") else test
    nearest = [((x * x).sum(1, keepdim=True) - 2 * x @ m.T + (m * m).sum(1)).argmin(1) for x in parts]
    return float((torch.cat(nearest).numpy() == np.asarray(labels)).mean()) if nearest else 0.0


def pixel_batches(images: torch.Tensor, batch: int = 2048) -> Iterator[torch.Tensor]:
    """`pixels` a batch of images at a time: CIFAR-10's test split as float32 at once is 123 MB."""
    for chunk in images.split(batch):
        yield pixels(chunk)


def unit_pixel_batches(images: torch.Tensor, batch: int = 2000) -> Iterator[torch.Tensor]:
    """`unit_rows` of the input layer, a batch at a time, for a caller that writes each batch away: CIFAR-10's
    training pixels as float32 would be 600 MB at once."""
    for chunk in images.split(batch):
        yield unit_rows(pixels(chunk))


def unit_feature_batches(model: nn.Module, images: torch.Tensor, norm: Normalization, key: str, device: str = "cpu",
                         batch: int = BATCH) -> Iterator[torch.Tensor]:
    """`unit_rows` of one layer for uint8 images, a batch at a time, for a caller that writes each batch away
    (app/representations.py): every layer of the training split as float32 at once was up to 740 MB (a
    3 x 1,024 net), for one layer kept."""
    for found in feature_batches(model, images, norm, device, batch):
        yield unit_rows(found[key])


def unit_rows(x: torch.Tensor) -> torch.Tensor:
    """Rows scaled to length one (zero rows stay zero), in half precision: a cosine search is then one matmul."""
    x = x.float()
    return (x / x.norm(dim=1, keepdim=True).clamp(min=1e-12)).half()


def nearest(index: torch.Tensor, query: torch.Tensor, k: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """The k rows of `index` (unit rows, see `unit_rows`) nearest the query by cosine: (rows, cosine distances),
    nearest first, ties by row."""
    q = unit_rows(query.reshape(1, -1))[0]
    similarity = (index @ q).float()
    k = min(k, len(similarity))
    # Ties (duplicate images) are broken by row number: sort the top candidates by (-similarity, row).
    top = torch.topk(similarity, min(len(similarity), k + 16)).indices
    order = sorted(top.tolist(), key=lambda r: (-float(similarity[r]), r))[:k]
    rows = np.asarray(order, dtype=np.int64)
    return rows, (1 - similarity[rows]).clamp(min=0).numpy()


def site(model: nn.Module) -> Optional[Units]:
    """Where a network's first-layer units are (models.nets.Inspectable), None without any."""
    return model.units()


def switchable(model: nn.Module) -> int:
    """How many first-layer units can be switched off (0 for a net without hidden units)."""
    found = site(model)
    return 0 if found is None else int(found.count)


@torch.no_grad()
def site_outputs(model: nn.Module, images: torch.Tensor, norm: Normalization, device: str = "cpu",
                 batch: int = BATCH) -> torch.Tensor:
    """What the units' module outputs for uint8 images, batch by batch: for a network whose units have an
    `onward`, switching units off is then exact and fast (see `logits_without`)."""
    model.eval()
    units, caught = site(model), []
    handle = units.module.register_forward_hook(lambda _, __, output: caught.append(output.detach().cpu()))
    try:
        for chunk in images.split(batch):
            model(norm.apply(chunk.to(device)))
    finally:
        handle.remove()
    return torch.cat(caught)


def _zeroed(output: torch.Tensor, axis: int, units: Sequence[int]) -> torch.Tensor:
    """A copy of a layer's output with `units` zero along the axis that numbers them (never another axis:
    on tokens (B, N, D) that is the channels D, not the tokens N)."""
    return output.index_fill(axis, torch.as_tensor(list(units), dtype=torch.long, device=output.device), 0)


@torch.no_grad()
def logits_without(model: nn.Module, outputs: torch.Tensor, units: Sequence[int]) -> np.ndarray:
    """A network's logits from its units' cached outputs (`site_outputs`), with `units` switched off."""
    found = site(model)
    kept = _zeroed(outputs, found.axis, units) if len(units) else outputs
    return found.onward(kept).float().numpy()


@contextlib.contextmanager
def silenced(model: nn.Module, units: Sequence[int]) -> Iterator[None]:
    """While inside, the first-layer units `units` output zero, whatever the network's kind: a forward hook
    on the module its `units()` names, zeroing the axis it names."""
    units, found = list(units), site(model)

    def hook(_, __, output):
        return _zeroed(output, found.axis, units)

    handle = found.module.register_forward_hook(hook) if units else None
    try:
        yield
    finally:
        if handle is not None:
            handle.remove()


@torch.no_grad()
def probs_without(model: nn.Module, images: torch.Tensor, norm: Normalization, units: Sequence[int],
                  device: str = "cpu", batch: int = 500, on_batch=None, cancel=None) -> np.ndarray:
    """A network's class probabilities for uint8 images with some first-layer units switched off: one pass.
    `on_batch(done, total)` reports progress; `cancel` (an Event) stops between batches."""
    model.eval()
    out = []
    with silenced(model, units):
        for chunk in images.split(batch):
            if cancel is not None and cancel.is_set():
                raise TrainingCancelled("stopped")
            out.append(torch.softmax(model(norm.apply(chunk.to(device))).float(), 1).cpu())
            if on_batch is not None:
                on_batch(sum(len(o) for o in out), len(images))
    return torch.cat(out).numpy().astype(np.float32)


def check_units(units, count: int) -> Optional[tuple[int, ...]]:
    """Units sent by a page, sorted and distinct, or None if any is not a unit of this network."""
    if not isinstance(units, (list, tuple)) or len(units) > count:
        return None
    if not all(isinstance(u, int) and not isinstance(u, bool) and 0 <= u < count for u in units):
        return None
    return tuple(sorted(set(units)))
