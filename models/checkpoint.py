"""Self-describing checkpoints: saved atomically, loaded with weights_only=True, checked before use."""
from __future__ import annotations

import pickle
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
import torchvision
from torch import nn

from . import kinds
from .config import Normalization, TrainConfig
from .errors import CheckpointError, ConfigError
from .files import atomic_write

FORMAT = 1
_REQUIRED = ("format", "id", "arch", "arch_args", "dataset", "classes", "in_shape", "normalization",
             "train", "metrics", "versions", "state_dict")


@dataclass
class Checkpoint:
    """A trained network and everything needed to rebuild, evaluate and describe it."""
    id: str  # fresh for every training run; evaluation caches are keyed by it
    arch: str
    dataset: str
    classes: tuple[str, ...]
    model: nn.Module
    normalization: Normalization
    config: TrainConfig
    metrics: dict[str, Any]
    created: str = ""
    versions: dict[str, str] | None = None
    network: str = ""  # the id it is saved under, when that is not its kind: a visitor's run ("linear~run3")
    step: int | None = None  # a timeline snapshot's training step; None for the finished network

    @property
    def name(self) -> str:
        return self.network or self.arch

    @property
    def is_snapshot(self) -> bool:
        return self.step is not None


# A timeline snapshot is named by its finished checkpoint's id (or file stem) and its step. This codec alone
# writes and reads that form: "<id>@<step>", and "mnist-linear@50.eval.npz" for its evaluation's file.
_AT = "@"


def snapshot_id(checkpoint_id: str, step: int | None) -> str:
    """The id of a checkpoint's snapshot at `step` (the checkpoint's own id for None); a network's file stem
    names its snapshot's files the same way ("mnist-linear" at 50: "mnist-linear@50")."""
    return checkpoint_id if step is None else f"{checkpoint_id}{_AT}{int(step)}"


def parse_id(identifier: str) -> tuple[str, int | None]:
    """(the finished checkpoint's id, the snapshot's step or None) of a checkpoint or snapshot id."""
    base, at, step = str(identifier).partition(_AT)
    return (base, int(step)) if at and step.isdecimal() else (str(identifier), None)


def snapshot_stems(stem: str) -> str:
    """A glob for the file stems of every snapshot of a network's."""
    return f"{stem}{_AT}*"


def save(path: Path, arch: str, dataset: str, classes, model: nn.Module, norm: Normalization,
         config: TrainConfig, metrics: dict) -> Checkpoint:
    """Write a checkpoint through a temporary file and a rename, so a crash never leaves half a file."""
    ckpt = Checkpoint(id=uuid.uuid4().hex, arch=arch, dataset=dataset, classes=tuple(classes),
                      model=model, normalization=norm, config=config, metrics=dict(metrics),
                      created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                      versions={"torch": str(torch.__version__), "torchvision": str(torchvision.__version__)})
    train = asdict(config)
    train["arch_args"] = _plain(train["arch_args"])
    payload = {
        "format": FORMAT, "id": ckpt.id, "created": ckpt.created, "arch": arch,
        "arch_args": _plain(config.arch_args), "dataset": dataset, "classes": list(classes),
        "in_shape": list(model.in_shape), "normalization": {"mean": list(norm.mean), "std": list(norm.std)},
        "train": train, "metrics": dict(metrics), "versions": ckpt.versions,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }
    atomic_write(path, lambda f: torch.save(payload, f), sync=True)
    return ckpt


def load(path: Path, dataset: str | None = None, arch: str | None = None, device: str = "cpu") -> Checkpoint:
    """Read and rebuild a checkpoint; anything wrong with it becomes one CheckpointError line (its brief, for a
    web page, names the network but neither the server's path nor the exception)."""
    def error(problem: str, brief: str) -> CheckpointError:
        return CheckpointError(f"checkpoint {path} {problem}", f"The saved network {_named(path, dataset)} {brief}.")
    damaged = "is damaged and cannot be read"
    try:
        payload = torch.load(path, map_location=device, weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"no checkpoint at {path}", f"There is no saved network {_named(path, dataset)}.") \
            from None
    except pickle.UnpicklingError as e:
        if "unsupported global" in str(e).lower():  # a well-formed file that asks to build arbitrary objects
            raise error("holds objects other than plain weights and settings; it was not loaded (only "
                        "weights_only checkpoints are)", "holds more than weights and settings, so it was not loaded") \
                from None
        raise error("is unreadable (not a checkpoint file)", damaged) from None
    except Exception as e:  # torch raises many types for damaged files; all mean the same here
        raise error(f"is unreadable ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else 'damaged'})",
                    damaged) from None
    if not isinstance(payload, dict) or any(k not in payload for k in _REQUIRED):
        raise error("is not a Looking Inside checkpoint (fields missing)", "is not a Looking Inside checkpoint")
    if payload["format"] != FORMAT:
        raise error(f"has format {payload['format']}, expected {FORMAT}", "is in a format this server cannot read")
    for key, want in (("dataset", dataset), ("arch", arch)):
        if want is not None and payload[key] != want:
            raise error(f"is for {key} {payload[key]!r}, not {want!r}",
                        "is for another dataset" if key == "dataset" else "is another kind of network")
    try:
        model = kinds.build(payload["arch"], payload["in_shape"], len(payload["classes"]),
                           **_tuples(payload["arch_args"]))
        model.load_state_dict(payload["state_dict"], strict=True)
        norm = Normalization(tuple(payload["normalization"]["mean"]), tuple(payload["normalization"]["std"]))
        train = dict(payload["train"])
        train["arch_args"] = _tuples(train.get("arch_args", {}))
        config = TrainConfig(**train)
    except (ValueError, TypeError, KeyError, RuntimeError, ConfigError) as e:
        raise error(f"does not match its network ({str(e).splitlines()[0] if str(e) else type(e).__name__})",
                    "does not match its own description") from None
    model.to(device).eval()
    return Checkpoint(id=str(payload["id"]), arch=payload["arch"], dataset=payload["dataset"],
                      classes=tuple(payload["classes"]), model=model, normalization=norm, config=config,
                      metrics=dict(payload["metrics"]), created=str(payload.get("created", "")),
                      versions=dict(payload["versions"]))


def _named(path: Path, dataset: str | None) -> str:
    """The network a checkpoint file holds, as a page names it ("mnist/mlp-32-tanh"): its file's name
    (dataset-network.pt), never the folder it is in."""
    stem = Path(path).name.removesuffix(".pt")
    if isinstance(dataset, str) and stem.startswith(f"{dataset}-"):
        return f"{dataset}/{stem[len(dataset) + 1:]}"
    return stem


def _plain(args: dict) -> dict:
    # weights_only loading accepts lists but not tuples' provenance: store lists, rebuild tuples.
    return {k: list(v) if isinstance(v, tuple) else v for k, v in args.items()}


def _tuples(args: dict) -> dict:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in args.items()}
