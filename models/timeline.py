"""Training timelines: the weights at a set of steps, saved beside their checkpoint so training can be replayed."""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch

from .errors import DamagedCache
from .files import atomic_write

FORMAT = 1
EARLY_STEPS = (0, 10, 25, 50, 100, 200, 500, 1000)  # the weights change fastest at the start
MAX_EPOCH_SNAPSHOTS = 12
# The snapshots a timeline stores, at most: the widest network a visitor can build (3×1,024 units on
# CIFAR-10, 10 MB a snapshot at half precision) keeps 6 of its 17; the served and the ladder's keep all.
MAX_BYTES = 64 * 2 ** 20


@dataclass(frozen=True)
class Snapshot:
    """The weights after `step` batches (`epoch` is fractional: steps / steps per epoch)."""
    step: int
    epoch: float
    state_dict: dict  # name -> tensor, kept in float16 on disk (biases and BN statistics included)
    accuracy: Optional[float] = None  # test accuracy at this point, where training recorded it

    @property
    def label(self) -> str:
        """One unit throughout, epochs as decimals, and the test accuracy where it was recorded."""
        return epoch_label(self.epoch, self.accuracy)


def epoch_label(epoch: float, accuracy: Optional[float] = None, final: bool = False) -> str:
    """"epoch 0.04 · 71.2%": how far training had got, in epochs, and how good it was then."""
    if epoch == 0:
        text = "untrained"
    elif float(epoch).is_integer():
        text = f"epoch {int(epoch)}"
    else:
        text = f"epoch {epoch:.2f}" if epoch >= 0.01 else f"epoch {epoch:.3f}"
    if final:
        text += " (final)"
    return text if accuracy is None else f"{text} · {100 * accuracy:.1f}%"


def schedule(steps_per_epoch: int, epochs: int) -> list[int]:
    """Steps after which a snapshot is kept: close together early on, then at epoch ends (about 12 at most)."""
    total = steps_per_epoch * epochs
    every = max(1, math.ceil(epochs / MAX_EPOCH_SNAPSHOTS))
    ends = [e * steps_per_epoch for e in range(1, epochs + 1) if e % every == 0 or e == epochs]
    return sorted({s for s in EARLY_STEPS if s < total} | set(ends))


def capture(model: torch.nn.Module, step: int, steps_per_epoch: int, accuracy: Optional[float] = None) -> Snapshot:
    """A detached, half-precision copy of the model's state (float16 halves the file; the final
    position of a timeline is the checkpoint itself, at full precision)."""
    state = {k: (v.detach().to("cpu", torch.float16, copy=True) if v.is_floating_point()
                 else v.detach().to("cpu", copy=True)) for k, v in model.state_dict().items()}
    return Snapshot(step, round(step / max(1, steps_per_epoch), 3), state, accuracy)


def nbytes(snapshot: Snapshot) -> int:
    """The bytes of a snapshot's tensors (what it adds to the timeline file)."""
    return sum(t.numel() * t.element_size() for t in snapshot.state_dict.values())


def thin(steps: list[int], snapshot_bytes: int, max_bytes: Optional[int] = None) -> list[int]:
    """The steps of a schedule whose snapshots a timeline stores within `max_bytes` (MAX_BYTES by default):
    the last always (it is the checkpoint itself, not stored), and of the others as many as fit, evenly
    spread from the first (the untrained network, which is kept whatever the bound)."""
    if not steps:
        return []
    *stored, last = steps
    room = max(1, (MAX_BYTES if max_bytes is None else max_bytes) // max(1, snapshot_bytes))
    if len(stored) <= room:
        return list(steps)
    picks = {0} if room == 1 else {round(i * (len(stored) - 1) / (room - 1)) for i in range(room)}
    return [stored[i] for i in sorted(picks)] + [last]


def save(path: Path, checkpoint_id: str, snapshots: list[Snapshot]) -> None:
    """Write the timeline atomically, tagged with the checkpoint it leads to."""
    payload = {"format": FORMAT, "checkpoint_id": checkpoint_id,
               "snapshots": [{"step": s.step, "epoch": s.epoch, "state_dict": s.state_dict,
                              **({} if s.accuracy is None else {"accuracy": float(s.accuracy)})}
                             for s in snapshots]}
    atomic_write(path, lambda f: torch.save(payload, f))


def load(path: Path, checkpoint_id: str) -> Optional[list[Snapshot]]:
    """The snapshots that led to this checkpoint; None if there is no timeline for it.

    A file that is there but cannot be read raises DamagedCache: the timeline is data a person wants
    to see, so its loss is reported, not passed off as "none recorded".
    """
    if not path.is_file():
        return None
    try:
        # Mapped, not read: the slider needs only the labels, and every server process keeps up to 32
        # timelines (a wide net's is 64 MB); a snapshot's weights are paged in from the file when it is drawn.
        payload = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        if not isinstance(payload, dict) or payload.get("format") != FORMAT:
            raise ValueError("not a timeline of this format")
        if payload.get("checkpoint_id") != checkpoint_id:
            return None  # the timeline of an older network of this name: not this one's
        return [Snapshot(int(s["step"]), float(s["epoch"]), dict(s["state_dict"]),
                         None if s.get("accuracy") is None else float(s["accuracy"])) for s in payload["snapshots"]]
    except Exception as e:  # torch raises many types for a truncated or foreign file; all mean the same here
        raise DamagedCache(f"the training timeline {path.name} is damaged "
                           f"({type(e).__name__}) and cannot be shown") from None
