"""`python -m bench.units`: the unit view and Fool it (issue 26), measured on the shipped networks.

    python -m bench.units [--data-dir DIR] [--model-dir checkpoints] [--images 100] [--json FILE]

Rows: the unit view's server time once its unit is made (p50/p95 of the callback, in this process); one fully
connected unit's feature visualisation, and a convnet filter's; a 1-layer flip and a convnet flip; and the
median size of the smallest change found (L2 on 0..1 pixels) over the first N test images for the 1-layer net,
the 2-layer net and the convnet of MNIST, each change checked to flip the prediction in a plain forward pass.
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from models import adversarial, datasets, units
from models.config import Settings
from models.zoo import Zoo

ROOT = Path(__file__).resolve().parent.parent


def percentile(values, q) -> float:
    return float(np.percentile(np.asarray(values, dtype=np.float64), q))


def unit_view(settings: Settings, repeats: int) -> dict:
    """The unit view callback's time for a unit already made (the visualisation on disk, the activations kept)."""
    from unittest import mock

    from app.jobs import Queue
    from app.main import create_app
    from app.state import screen
    rows = {}
    with tempfile.TemporaryDirectory() as jobs, mock.patch("app.access.Limits.check_once", lambda *a: None):
        app = create_app(settings, queue=Queue(Path(jobs), launch=lambda q, job: None))
        cb = app.lookinside_callbacks
        for dataset, arch, layer, unit in (("mnist", "mlp", "1", "4"), ("mnist", "linear", "1", "4")):
            app.lookinside_service.zoo.evaluation(dataset, arch)  # the scratch folder holds no evaluation yet
            store = screen(cb["resolve"](dataset, arch)["resolved"], None, dataset, arch, None)
            started = time.perf_counter()
            cb["unit_draw"](store, layer, unit)  # the first: makes its visualisation and profile
            first = time.perf_counter() - started
            times = []
            for _ in range(repeats):
                started = time.perf_counter()
                cb["unit_draw"](store, layer, unit)
                times.append(time.perf_counter() - started)
            rows[f"{dataset}/{arch} {layer}.{unit}"] = {"first_ms": 1000 * first, "p50_ms": 1000 * percentile(times, 50),
                                                        "p95_ms": 1000 * percentile(times, 95), "repeats": repeats}
    return rows


def visualisations(zoo: Zoo, settings: Settings) -> dict:
    found = {}
    for dataset, arch, layer, count in (("mnist", "mlp", 1, 10), ("cifar10", "cnn", 1, 4), ("mnist", "cnn", 1, 8),
                                        ("mnist", "cnn", 3, 4)):
        try:
            ckpt = zoo.load(dataset, arch)
            test = datasets.load(dataset, False, settings)
        except Exception as e:  # a dataset this machine lacks
            found[f"{dataset}/{arch} layer {layer}"] = {"skipped": str(e)[:100]}
            continue
        values = units.activations(ckpt.model, test.images, ckpt.normalization, layer=layer)[0]
        mean = test.images.float().mean(0).numpy() / 255
        seconds, beaten = [], 0
        for u in range(count):
            made = units.visualise(ckpt.model, ckpt.normalization, layer, u, beat=float(values[:, u].max()),
                                   around=mean)
            seconds.append(made.seconds)
            beaten += made.activation >= float(values[:, u].max())
        found[f"{dataset}/{arch} layer {layer}"] = {"layer": layer, "units": count, "median_s": statistics.median(seconds),
                                      "max_s": max(seconds), "beat_best_test_image": beaten}
    return found


def flips(zoo: Zoo, settings: Settings, n: int) -> dict:
    test = datasets.load("mnist", False, settings)
    found = {}
    for arch in ("linear", "mlp", "cnn"):
        ckpt = zoo.load("mnist", arch)
        model = ckpt.model.eval()
        sizes, seconds, flipped, none = [], [], 0, 0
        for i in range(n):
            image = test.images[i].numpy()
            started = time.perf_counter()
            change = adversarial.fool(model, image, ckpt.normalization)
            seconds.append(time.perf_counter() - started)
            if change is None:
                none += 1
                continue
            x = torch.as_tensor(change.changed, dtype=torch.float32)[None]
            mean = torch.tensor(ckpt.normalization.mean).view(1, -1, 1, 1)
            std = torch.tensor(ckpt.normalization.std).view(1, -1, 1, 1)
            with torch.no_grad():  # a plain forward pass of the changed image
                flipped += int(model((x - mean) / std).argmax()) == change.target
            sizes.append(change.size)
        found[arch] = {"images": n, "median_l2": statistics.median(sizes) if sizes else None,
                       "p25_l2": percentile(sizes, 25) if sizes else None, "p75_l2": percentile(sizes, 75) if sizes else None,
                       "flipped": flipped, "not_found": none, "median_s": statistics.median(seconds),
                       "max_s": max(seconds), "accuracy": ckpt.metrics.get("test_accuracy")}
    return found


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.units", description=__doc__.splitlines()[0])
    p.add_argument("--data-dir")
    p.add_argument("--model-dir", default=str(ROOT / "checkpoints"), help="checkpoints to measure (copied first)")
    p.add_argument("--images", type=int, default=100, help="test images per network for the flip sizes")
    p.add_argument("--repeats", type=int, default=40)
    p.add_argument("--json", help="also write the figures here")
    args = p.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="lookinside-bench-units-"))
    try:
        for ckpt in Path(args.model_dir).glob("*.pt"):
            shutil.copy(ckpt, work)
        settings = Settings.resolve(args.data_dir, work, True)
        zoo = Zoo(settings)
        result = {"threads": torch.get_num_threads(), "unit_view": unit_view(settings, args.repeats),
                  "visualisation": visualisations(zoo, settings), "flips": flips(zoo, settings, args.images)}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(report(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0


def report(r: dict) -> str:
    lines = [f"Measured on {r['threads']} CPU threads.", "", "| unit view (server) | first | p50 | p95 |", "|---|---|---|---|"]
    for name, row in r["unit_view"].items():
        lines.append(f"| {name} | {row['first_ms']:.0f} ms | {row['p50_ms']:.1f} ms | {row['p95_ms']:.1f} ms |")
    lines += ["", "| feature visualisation | units | median | max | beat the best test image |", "|---|---|---|---|---|"]
    for name, row in r["visualisation"].items():
        if "skipped" in row:
            lines.append(f"| {name} | skipped: {row['skipped']} | | | |")
        else:
            lines.append(f"| {name} | {row['units']} | {row['median_s']:.2f} s | "
                         f"{row['max_s']:.2f} s | {row['beat_best_test_image']} of {row['units']} |")
    lines += ["", "| MNIST network | test accuracy | median L2 of the smallest flip (p25-p75) | flipped in a plain pass | "
              "time per flip (median, max) |", "|---|---|---|---|---|"]
    for arch, row in r["flips"].items():
        acc = f"{100 * row['accuracy']:.2f}%" if row.get("accuracy") else "?"
        size = (f"{row['median_l2']:.3f} ({row['p25_l2']:.3f}-{row['p75_l2']:.3f})" if row["median_l2"] is not None
                else "none found")
        lines.append(f"| {arch} | {acc} | {size} | {row['flipped']} of {row['images'] - row['not_found']} "
                     f"({row['not_found']} not found) | {row['median_s']:.2f} s, {row['max_s']:.2f} s |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
