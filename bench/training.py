"""Training benchmarks: the project's trainer against the conventional DataLoader loop, and time to accuracy."""
from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import torch
from torch.nn import functional as F
from torch.utils.data import DataLoader
from torchvision import datasets as tvd
from torchvision import transforms

from models import datasets, kinds
from models.config import Normalization, Settings
from models.kinds import default_config
from models.train import _optimizer, fit, predict_proba
from models.zoo import Zoo


def _accuracy(probs: np.ndarray, labels: torch.Tensor) -> float:
    return float((probs.argmax(1) == labels.numpy()).mean())


def conventional(arch: str, settings: Settings, epochs: int, norm: Normalization, seed: int = 0) -> dict:
    """The PyTorch MNIST example's way: ToTensor + Normalize per sample, a DataLoader with batch size 64."""
    datasets.load("mnist", True, settings)  # makes sure torchvision finds the unpacked files
    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize(norm.mean, norm.std)])
    train = tvd.MNIST(str(settings.data_dir), train=True, download=False, transform=tf)
    test = tvd.MNIST(str(settings.data_dir), train=False, download=False, transform=tf)
    torch.manual_seed(seed)
    cfg = replace(default_config("mnist", arch), epochs=epochs, batch_size=64, seed=seed)
    model = kinds.build(arch, (1, 28, 28), 10, **cfg.arch_args)
    loader = DataLoader(train, batch_size=64, shuffle=True)
    opt, sched = _optimizer(model, cfg, epochs * len(loader))  # the same optimiser and schedule as ours
    model.train()
    per_epoch = []
    for _ in range(epochs):
        began = time.perf_counter()
        for x, y in loader:
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        per_epoch.append(time.perf_counter() - began)
    model.eval()
    correct = 0
    with torch.no_grad():
        for x, y in DataLoader(test, batch_size=1000):
            correct += int((model(x).argmax(1) == y).sum())
    return {"seconds_per_epoch": float(np.median(per_epoch)), "mean_seconds_per_epoch": float(np.mean(per_epoch)),
            "accuracy": correct / len(test)}


def ours(arch: str, settings: Settings, epochs: int, norm: Normalization, batch_size: int | None,
         seed: int = 0) -> dict:
    train = datasets.load("mnist", True, settings)
    test = datasets.load("mnist", False, settings)
    cfg = default_config("mnist", arch, epochs=epochs, seed=seed, batch_size=batch_size)
    model, report = fit(arch, train, norm, cfg)
    per_epoch = [h["seconds"] for h in report.history]
    return {"seconds_per_epoch": float(np.median(per_epoch)), "mean_seconds_per_epoch": report.seconds / epochs,
            "accuracy": _accuracy(predict_proba(model, test.images, norm), test.labels),
            "batch_size": cfg.batch_size}


def trainer_comparison(settings: Settings, archs=("linear", "mlp"), epochs: int | None = None) -> list[dict]:
    """Same model, same epochs (the project's default for the net, unless given), same optimiser and
    schedule, same machine, one run: the data path and batch size differ. Seconds per epoch are the
    median over the run's epochs, timed the same way for both loops: a shared 2-core machine slows
    down for seconds at a time, and a mean charges that to whichever loop happened to be running."""
    train = datasets.load("mnist", True, settings)
    norm = Normalization(*map(tuple, datasets.channel_stats(train.images)))
    rows = []
    for arch in archs:
        epochs_here = epochs or default_config("mnist", arch).epochs
        conv = conventional(arch, settings, epochs_here, norm)
        same_batch = ours(arch, settings, epochs_here, norm, batch_size=64)
        default = ours(arch, settings, epochs_here, norm, batch_size=None)
        rows.append({"arch": arch, "epochs": epochs_here, "conventional": conv, "ours_batch64": same_batch,
                     "ours_default_batch": default,
                     "speedup_batch64": conv["seconds_per_epoch"] / same_batch["seconds_per_epoch"],
                     "speedup_default": conv["seconds_per_epoch"] / default["seconds_per_epoch"]})
    return rows


def time_to_accuracy(settings: Settings, pairs, targets=None) -> list[dict]:
    """Retrain each pair with its defaults in a scratch model dir; data that cannot be had is reported.

    A pair's target is its kind's; `targets` ({(dataset, network): (accuracy, seconds)}) gives those of
    networks built in the page, which have none of their own."""
    zoo = Zoo(settings)
    rows = []
    for name, arch in pairs:
        target = (targets or {}).get((name, arch)) or (kinds.get(arch).targets.get(name) if arch in kinds.KINDS
                                                       else None)
        row = {"dataset": name, "arch": arch, "target_accuracy": target and target[0],
               "target_seconds": target and target[1]}
        try:
            ckpt = zoo.train(name, arch)
        except datasets.DataError as e:
            rows.append({**row, "error": str(e).split(" (")[0]})
            continue
        m = ckpt.metrics
        row.update(accuracy=m["test_accuracy"], seconds=m["train_seconds"], epochs=ckpt.config.epochs,
                   template_correlation=m.get("template_correlation"))
        row["meets_target"] = None if not target else bool(m["test_accuracy"] >= target[0]
                                                           and m["train_seconds"] <= target[1])
        rows.append(row)
    return rows
