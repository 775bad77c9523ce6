"""`python -m bench.saliency`: each pixel-map method's time and its sanity check (issue 27), on the shipped networks.

    python -m bench.saliency [--data-dir DIR] [--images 100] [--dataset mnist] [--json FILE]

For the first N test images of the dataset: every Captum method on the convnet, and the exact maps of the 1-layer
and 2-layer nets (gradient × input, which for the 1-layer net is x × w), each for the predicted class. Per method:
the median time of one map, the median time of the whole randomisation cascade, and the mean rank correlation with
the trained network's map once the class layer is randomised and once every layer is, of the signed maps and of
their magnitudes; and how many of the N maps survive (models/saliency.py `Check.survives`).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

from models import datasets, saliency
from models.config import Settings
from models.zoo import Zoo


def measure(ckpt, images, method: str) -> dict:
    model, norm = ckpt.model.eval(), ckpt.normalization
    one, whole, first, last, first_abs, last_abs, survived = [], [], [], [], [], [], 0
    for image in images:
        with torch.no_grad():
            target = int(model(norm.apply(torch.as_tensor(image)[None])).argmax())
        started = time.perf_counter()
        saliency.attribute(model, image, norm, target, method)
        one.append(time.perf_counter() - started)
        started = time.perf_counter()
        check = saliency.cascade(model, image, norm, target, method)
        whole.append(time.perf_counter() - started)
        first.append(check.steps[0].correlation)
        last.append(check.steps[-1].correlation)
        first_abs.append(check.steps[0].magnitude)
        last_abs.append(check.steps[-1].magnitude)
        survived += check.survives
    return {"map_ms": 1000 * statistics.median(one), "cascade_ms": 1000 * statistics.median(whole),
            "class_layer_rho": float(np.mean(first)), "all_layers_rho": float(np.mean(last)),
            "class_layer_rho_abs": float(np.mean(first_abs)), "all_layers_rho_abs": float(np.mean(last_abs)),
            "survived": survived, "images": len(images)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.saliency", description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir")
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    settings = Settings.resolve(args.data_dir, None, offline=True)
    zoo = Zoo(settings)
    images = [im.numpy() for im in datasets.load(args.dataset, False, settings).images[:args.images]]
    saliency.attribute(zoo.load(args.dataset, "cnn").model, images[0], zoo.load(args.dataset, "cnn").normalization,
                       0, "ig")  # Captum's first import and call, outside the timings
    rows = {}
    print(f"{args.dataset}, first {len(images)} test images, the predicted class's map:")
    print(f"{'network':8} {'method':22} {'map ms':>7} {'cascade ms':>10} {'rho top':>8} {'rho all':>8} "
          f"{'|rho| top':>9} {'|rho| all':>9} {'survive':>8}")
    for network, methods in (("cnn", list(saliency.METHODS)), ("linear", ["gradxinput"]), ("mlp", ["gradxinput"])):
        ckpt = zoo.load(args.dataset, network)
        for method in methods:
            row = measure(ckpt, images, method)
            rows[f"{network} {method}"] = row
            print(f"{network:8} {saliency.METHODS[method]:22} {row['map_ms']:7.1f} {row['cascade_ms']:10.1f} "
                  f"{row['class_layer_rho']:8.2f} {row['all_layers_rho']:8.2f} {row['class_layer_rho_abs']:9.2f} "
                  f"{row['all_layers_rho_abs']:9.2f} {row['survived']:>4}/{row['images']}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
