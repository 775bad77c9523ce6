"""Typed settings: where data and checkpoints live and the device (shared by the CLI and the dashboard), how
images are normalised, and how a network is trained."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import torch

from .errors import ConfigError

PROJECT_DIR = Path(__file__).resolve().parent.parent
# Shipped checkpoints live here, so a fresh clone needs only the data, never a long training run. The app only
# reads them: what it trains, builds, evaluates and maps goes to the model folder (`model_dir`).
SHIPPED_DIR = PROJECT_DIR / "checkpoints"
DEFAULT_MODEL_DIR = SHIPPED_DIR  # without a layered setup (`Settings()`), one folder read and written
DEFAULT_DATA_DIR = Path("data")
DATA_DIR_ENV = "LOOKINSIDE_DATA_DIR"
MODEL_DIR_ENV = "LOOKINSIDE_MODEL_DIR"
SHIPPED_DIR_ENV = "LOOKINSIDE_SHIPPED_DIR"  # "" for none


def user_model_dir() -> Path:
    """The model folder when none is named: this user's data folder ($XDG_DATA_HOME, else ~/.local/share)."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base).expanduser() / "lookinside" / "models"


@dataclass(frozen=True)
class Settings:
    data_dir: Path = DEFAULT_DATA_DIR
    model_dir: Path = DEFAULT_MODEL_DIR  # read and written
    offline: bool = False  # True forbids any download: missing data is reported instead
    device: str = "cpu"
    shipped_dir: Optional[Path] = None  # read only, under the model folder: a file there wins

    @classmethod
    def resolve(cls, data_dir=None, model_dir=None, offline=False, device="cpu") -> "Settings":
        """Flag, else environment variable, else default; checks the device exists.

        With no model folder named, it is the user's (`user_model_dir`) over the shipped checkpoints, so running
        the app never changes the checkout. A folder named by flag or environment is used alone (as the tests and
        `make checkpoints` do), unless LOOKINSIDE_SHIPPED_DIR names a folder to read beneath it."""
        data = Path(data_dir or os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR).expanduser()
        named = model_dir or os.environ.get(MODEL_DIR_ENV)
        models = Path(named or user_model_dir()).expanduser().resolve()
        shipped = os.environ.get(SHIPPED_DIR_ENV, "" if named else str(SHIPPED_DIR))
        shipped = Path(shipped).expanduser().resolve() if shipped else None
        return cls(data_dir=data.resolve(), model_dir=models, offline=bool(offline), device=check_device(device),
                   shipped_dir=None if shipped == models else shipped)


def check_device(device: str) -> str:
    """Return a usable torch device name, or raise one clear ConfigError."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ConfigError(f"unknown device {device!r}: use 'cpu' or 'cuda' (optionally 'cuda:N')") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} asked for, but CUDA is not available on this machine; use --device cpu")
    if dev.type not in ("cpu", "cuda"):
        raise ConfigError(f"device {device!r} is not supported: use 'cpu' or 'cuda'")
    return str(dev)


def ensure_writable_dir(path: Path, what: str) -> Path:
    """Create `path` if needed and check it can be written, with one clear error if not."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"cannot create {what} {path}: {e.strerror}",
                          brief=f"The server's {what} cannot be written, so nothing new can be saved.") from None
    if not path.is_dir() or not os.access(path, os.W_OK | os.X_OK):
        raise ConfigError(f"{what} {path} is not a writable folder; choose another one",
                          brief=f"The server's {what} cannot be written, so nothing new can be saved.")
    return path


@dataclass(frozen=True)
class Normalization:
    """Per-channel mean and std (0..1 scale) applied to uint8 images on the fly."""
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def apply(self, images: torch.Tensor) -> torch.Tensor:
        scale, shift = self.affine(images.device)
        return images.float().mul_(scale).sub_(shift)

    def affine(self, device) -> tuple[torch.Tensor, torch.Tensor]:
        """(scale, shift) with x_normalized = x_uint8 * scale - shift: two in-place ops per batch."""
        std = torch.tensor(self.std, device=device).view(1, -1, 1, 1)
        mean = torch.tensor(self.mean, device=device).view(1, -1, 1, 1)
        return 1 / (255 * std), mean / std


@dataclass(frozen=True)
class TrainConfig:
    """Training settings; every checkpoint records them so a run can be repeated exactly."""
    epochs: int = 5
    batch_size: int = 128
    optimizer: str = "adam"  # "adam" or "sgd" (Nesterov momentum 0.9)
    lr: float = 1e-3  # peak learning rate: it warms up over the first 10% of steps, then decays linearly to 0
    weight_decay: float = 0.0
    label_smoothing: float = 0.0
    augment: bool = False  # random 4-pixel shifts and horizontal flips (CIFAR-10 only: digits must not flip)
    bf16: bool = False  # bfloat16 autocast: about 2x faster convolutions on CPUs with AVX-512 BF16
    # Weight of a penalty on the squared differences between neighbouring pixels' weights in the first
    # layer: it smooths away the high-frequency noise, so a 1-layer net's templates look like its classes.
    smoothness: float = 0.0
    # Exponential moving average of the weights over the steps (e.g. 0.99), 0 for none: the snapshots and the
    # network it returns are the average. For the convex 1-layer problem the average of a noisy SGD path is as
    # good as its end and far steadier, so its timeline shows a network learning rather than thrashing.
    average: float = 0.0
    seed: int = 0
    arch_args: dict = field(default_factory=dict)  # passed to the network's constructor
    # Training images left out, by their index in the training split's file order (`python -m models train
    # --exclude-train`): the counterfactual half of a training-data attribution check (models/influence.py).
    exclude_train: tuple = ()
