"""The smallest change that fools a network: the least L2 change to an image, within the pixel range 0..1, that
makes it say another class (the chapter's "0op5, 1 d14 17 2ga1n", asked the other way round).

- A 1-layer net is linear in the pixels, so the question is a small convex QP: minimise |d|² subject to the
  box 0 <= x + d <= 1 and, for the target class t, z_t(x + d) >= z_c(x + d) + margin for every other class c.
  Its dual has one variable per constraint (nine): for fixed multipliers the box splits pixel by pixel, so the
  inner minimum is a clip, and L-BFGS-B over the nine multipliers solves it to the solver's precision.
- Any other network: projected gradient descent on |d|² plus a hinge on the target's lead (Carlini and
  Wagner's form), its weight found by bisection; an upper bound on the smallest change, not the minimum.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch
from torch import nn

from .config import Normalization
from .explain import folded_first_layer, to_unit
from .nets import LinearNet

MARGIN = 1e-3  # how far the target's score must lead, so the flip survives rounding
SEARCH_SECONDS = 4.0  # a search's time in a request, per target class


@dataclass(frozen=True)
class Change:
    """A change d to an image (0..1 pixels, (C, H, W)) and what it does."""
    target: int  # the class the changed image is given
    delta: np.ndarray  # (C, H, W) float64
    changed: np.ndarray  # x + d, in 0..1
    logits: np.ndarray  # of the changed image, from the network itself
    exact: bool  # solved exactly (the 1-layer net's QP) or found by search (an upper bound)

    @property
    def size(self) -> float:
        return float(np.linalg.norm(self.delta))

    @property
    def pixels(self) -> int:
        """Pixels (over channels) changed by more than 1/255, one grey level."""
        return int((np.abs(self.delta) > 1 / 255).reshape(self.delta.shape[0], -1).any(0).sum())

    @property
    def fooled(self) -> bool:
        return int(np.argmax(self.logits)) == self.target


def linear_change(weights: np.ndarray, bias: np.ndarray, x: np.ndarray, target: int,
                  margin: float = MARGIN) -> Optional[np.ndarray]:
    """The exact smallest change d (flat, float64) with 0 <= x + d <= 1 and z_t - z_c >= margin for all c != t,
    for scores z = weights @ (x + d) + bias (weights (classes, pixels), x flat in 0..1); None if none exists."""
    from scipy.optimize import minimize  # here, not at import: a web worker that never fools anything skips it

    others = [c for c in range(len(weights)) if c != target]
    a = weights[target] - weights[others]  # (k, n): each row's constraint is a @ (x + d) + gap >= margin
    need = margin - (bias[target] - bias[others]) - a @ x  # a @ d >= need
    lo, hi = -x, 1.0 - x
    if np.all(need <= 0):
        return np.zeros_like(x)

    def dual(lam):  # the negated dual function and its gradient (scipy minimises)
        d = np.clip(a.T @ lam / 2, lo, hi)
        value = d @ d - lam @ (a @ d - need)
        return -value, -(need - a @ d)
    found = minimize(dual, np.zeros(len(others)), jac=True, method="L-BFGS-B", bounds=[(0, None)] * len(others),
                     options={"maxiter": 2000, "ftol": 1e-15, "gtol": 1e-12})
    d = np.clip(a.T @ found.x / 2, lo, hi)
    if np.any(a @ d < need - 1e-6 * max(1.0, float(np.abs(need).max()))):
        return None  # the box does not allow it: no image in range is given this class
    return d


def fool_linear(model: LinearNet, image: np.ndarray, norm: Normalization, target: int) -> Optional[Change]:
    """The exact smallest change to a uint8 image that makes a 1-layer net say `target`."""
    w, b = folded_first_layer(model.fc.weight, model.fc.bias, model.in_shape, norm)
    x = to_unit(image).reshape(-1)
    d = linear_change(w.reshape(len(w), -1), b, x, target)
    if d is None:
        return None
    return _change(model, norm, x + d, d, image.shape, target, exact=True)


def fool_search(model: nn.Module, image: np.ndarray, norm: Normalization, target: int, steps: int = 200,
                rounds: int = 8, seconds: float = SEARCH_SECONDS) -> Optional[Change]:
    """A small change that makes any network say `target`: projected Adam on |d|² + c·hinge, c by bisection,
    for at most `seconds` (a convnet's 3,200 passes took 42 s here; the best change found by then is kept)."""
    deadline = time.monotonic() + seconds
    model = model.eval()
    x = torch.as_tensor(to_unit(image), dtype=torch.float32)[None]
    mean = torch.tensor(norm.mean, dtype=torch.float32).view(1, -1, 1, 1)
    std = torch.tensor(norm.std, dtype=torch.float32).view(1, -1, 1, 1)
    best, low, high, c = None, 0.0, None, 1.0
    for _ in range(rounds):
        d = torch.zeros_like(x, requires_grad=True)
        opt = torch.optim.Adam([d], lr=0.01)
        found = None
        for _ in range(steps):
            if time.monotonic() > deadline and (found is not None or best is not None):
                break
            z = model((x + d - mean) / std)[0]
            others = torch.cat([z[:target], z[target + 1:]])
            lead = z[target] - others.max()
            size = float((d.detach() ** 2).sum())
            if lead.item() > MARGIN and (found is None or size < float((found * found).sum())):
                found = d.detach().clone()  # the change just scored: it flips the prediction
            loss = (d * d).sum() + c * torch.clamp(MARGIN * 10 - lead, min=0)
            opt.zero_grad()
            loss.backward()
            opt.step()
            with torch.no_grad():
                d.data = torch.clamp(x + d, 0, 1) - x  # the pixel range
        if time.monotonic() > deadline and best is None and found is None:
            break  # nothing found in the time: say so rather than keep a request waiting
        if found is not None:
            if best is None or float((found * found).sum()) < float((best * best).sum()):
                best = found
            high = c
            c = (low + c) / 2
        else:
            low = c
            c = c * 10 if high is None else (c + high) / 2
    if best is None:
        return None
    d = best[0].double().numpy()
    flat = to_unit(image).reshape(-1)
    return _change(model, norm, flat + d.reshape(-1), d.reshape(-1), image.shape, target, exact=False)


def _change(model, norm, changed_flat, delta_flat, shape, target, exact) -> Change:
    changed = changed_flat.reshape(shape)
    with torch.no_grad():
        mean = torch.tensor(norm.mean, dtype=torch.float64).view(1, -1, 1, 1)
        std = torch.tensor(norm.std, dtype=torch.float64).view(1, -1, 1, 1)
        x = (torch.as_tensor(changed)[None] - mean) / std
        logits = model.eval()(x.float())[0].double().numpy()
    return Change(target, delta_flat.reshape(shape), changed, logits, exact)


def fool(model: nn.Module, image: np.ndarray, norm: Normalization, target: Optional[int] = None,
         budget: Optional[float] = None) -> Optional[Change]:
    """The smallest change that makes the network say `target`, or (None) the nearest class it can be made to
    say: exact for a 1-layer net, searched for the others. `budget`: the seconds a search may take in all (a
    request's bound; without it the nearest class is searched for until one is found)."""
    solve = fool_linear if isinstance(model, LinearNet) else fool_search
    with torch.no_grad():
        z = model.eval()(norm.apply(torch.as_tensor(np.ascontiguousarray(image))[None]))[0]
    predicted = int(torch.argmax(z))
    if target is not None:
        if target == predicted:
            return None
        if isinstance(model, LinearNet):
            return solve(model, image, norm, target)
        return solve(model, image, norm, target, seconds=SEARCH_SECONDS if budget is None else min(SEARCH_SECONDS, budget))
    # Nearest: the classes in order of their score. Each is one solve; every class for the exact QP. A search
    # takes up to seconds a class, so it goes down the order only while its time lasts or nothing was found:
    # the runner-up by score is not always reachable (raising it may raise the predicted class with it).
    order = [int(c) for c in torch.argsort(z, descending=True) if int(c) != predicted]
    if isinstance(model, LinearNet):
        found = [f for f in (solve(model, image, norm, t) for t in order) if f is not None]
    else:
        found, deadline = [], time.monotonic() + SEARCH_SECONDS * 2
        end = None if budget is None else time.monotonic() + budget
        for t in order:
            if found and time.monotonic() + SEARCH_SECONDS > deadline:
                break  # another class's search could run past the two searches' time
            left = SEARCH_SECONDS if end is None else min(SEARCH_SECONDS, end - time.monotonic())
            if left <= 0.05:
                break
            change = solve(model, image, norm, t, seconds=left)
            if change is not None:
                found.append(change)
    return min(found, key=lambda f: f.size) if found else None
