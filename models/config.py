"""Typed settings shared by the CLI and the dashboard: where data and checkpoints live, and the device."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from .errors import ConfigError

PROJECT_DIR = Path(__file__).resolve().parent.parent
# Shipped checkpoints live here, so a fresh clone needs only the data, never a long training run.
DEFAULT_MODEL_DIR = PROJECT_DIR / "checkpoints"
DEFAULT_DATA_DIR = Path("data")
DATA_DIR_ENV = "LOOKINSIDE_DATA_DIR"
MODEL_DIR_ENV = "LOOKINSIDE_MODEL_DIR"


@dataclass(frozen=True)
class Settings:
    data_dir: Path = DEFAULT_DATA_DIR
    model_dir: Path = DEFAULT_MODEL_DIR
    offline: bool = False  # True forbids any download: missing data is reported instead
    device: str = "cpu"

    @classmethod
    def resolve(cls, data_dir=None, model_dir=None, offline=False, device="cpu") -> "Settings":
        """Flag, else environment variable, else default; checks the device exists."""
        data = Path(data_dir or os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR).expanduser()
        models = Path(model_dir or os.environ.get(MODEL_DIR_ENV) or DEFAULT_MODEL_DIR).expanduser()
        return cls(data_dir=data.resolve(), model_dir=models.resolve(), offline=bool(offline),
                   device=check_device(device))


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
        raise ConfigError(f"cannot create {what} {path}: {e.strerror}") from None
    if not path.is_dir() or not os.access(path, os.W_OK | os.X_OK):
        raise ConfigError(f"{what} {path} is not a writable folder; choose another one")
    return path
