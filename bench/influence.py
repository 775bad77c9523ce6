"""`python -m bench.influence`: does TracIn name the training images that matter? (issue 27)

    python -m bench.influence [--data-dir DIR] [--images 5] [--remove 100] [--draws 3] [--pick least-sure] [--json FILE]

The counterfactual check: train the MNIST 1-layer net with its shipped settings (seed included) in a scratch
folder; for each of N test images, rank all training images by TracIn over that run's timeline, then train again
without the top K proponents, and separately without K random training images (three draws). TracIn is right
about an image when its loss (at the class the network gives it) rises more without the proponents than
without any of the random draws. Every retraining uses the same seed, so what differs is only what was removed.

The images: `least-sure` takes the N correctly classified test images the network is least sure of (a confident
image's loss is near zero and barely moves whatever is removed); `first` takes test images 0..N-1.
Also timed: influence for one image over all 60,000 training images, for the 1-layer and 2-layer nets.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from models import datasets, influence, kinds
from models.config import Settings
from models.zoo import Zoo


def loss_at(ckpt, image: np.ndarray, target: int) -> float:
    with torch.no_grad():
        logits = ckpt.model.eval()(ckpt.normalization.apply(torch.as_tensor(image)[None]))
    return float(F.cross_entropy(logits, torch.tensor([target])))


def chosen(zoo: Zoo, dataset: str, ckpt, n: int, pick: str) -> list[int]:
    ev = zoo.evaluate(ckpt)
    if pick == "first":
        return list(range(n))
    right = np.flatnonzero(ev.probs.argmax(1) == ev.labels)
    return [int(i) for i in right[np.argsort(ev.probs[right].max(1), kind="stable")[:n]]]


def counterfactual(settings: Settings, dataset: str = "mnist", network: str = "linear", n: int = 5, remove: int = 100,
                   draws: int = 3, pick: str = "least-sure", seed: int = 0, log=print) -> dict:
    """Retrain without each image's top `remove` proponents and without `draws` random sets of the same size;
    returns every loss change and, per image, whether the proponents' removal raised it more than any draw."""
    zoo = Zoo(settings)
    base = zoo.train(dataset, network, zoo.default_config(dataset, network))
    train = datasets.load(dataset, True, settings)
    test = datasets.load(dataset, False, settings)
    scorer = influence.LinearScorer(influence.timeline_checkpoints(zoo, base, len(train)), train.images, train.labels,
                                    base.normalization)
    rng = np.random.default_rng(seed)
    rows = []
    for index in chosen(zoo, dataset, base, n, pick):
        image = test.images[index].numpy()
        with torch.no_grad():
            target = int(base.model(base.normalization.apply(test.images[index:index + 1])).argmax())
        before = loss_at(base, image, target)
        values = scorer.scores(image, target)
        sets = {"proponents": np.argsort(-values, kind="stable")[:remove]}
        for d in range(draws):
            sets[f"random {d + 1}"] = rng.choice(len(train), remove, replace=False)
        changes = {}
        for name, drop in sets.items():
            config = replace(zoo.default_config(dataset, network), exclude_train=tuple(sorted(int(i) for i in drop)))
            changes[name] = loss_at(zoo.train(dataset, network, config), image, target) - before
        random = [v for k, v in changes.items() if k != "proponents"]
        row = {"index": index, "class": target, "loss": before, "changes": changes,
               "passes": changes["proponents"] > max(random)}
        log(f"  test image {index} ({train.classes[target]}, loss {before:.4f}): without the proponents "
            f"{changes['proponents']:+.4f}, without random images {', '.join(f'{v:+.4f}' for v in random)}"
            f" -> {'yes' if row['passes'] else 'no'}")
        rows.append(row)
    return {"dataset": dataset, "network": network, "pick": pick, "remove": remove, "draws": draws,
            "images": rows, "passed": sum(r["passes"] for r in rows)}


def timed(settings: Settings, scratch: Settings, dataset: str = "mnist") -> dict:
    """One image's influence over the whole training split, for the shipped 1-layer and 2-layer nets and a
    100-unit net trained in `scratch` with its defaults."""
    train = datasets.load(dataset, True, settings)
    test = datasets.load(dataset, False, settings)
    image = test.images[0].numpy()
    wide = kinds.fully_connected((100,), "relu")
    Zoo(scratch).train(dataset, wide)
    rows = {}
    for zoo, network in ((Zoo(settings), "linear"), (Zoo(settings), "mlp"), (Zoo(scratch), wide)):
        ckpt = zoo.load(dataset, network)
        started = time.perf_counter()
        checkpoints = influence.timeline_checkpoints(zoo, ckpt, len(train))
        if network == "linear":
            scorer = influence.LinearScorer(checkpoints, train.images, train.labels, ckpt.normalization)
            built = time.perf_counter() - started
            started = time.perf_counter()
            scorer.scores(image, 7)
            rows[network] = {"build_s": built, "score_s": time.perf_counter() - started}
        else:
            influence.scores(checkpoints, train.images, train.labels, ckpt.normalization, image, 7)
            rows[network] = {"score_s": time.perf_counter() - started}
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.influence", description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir")
    parser.add_argument("--images", type=int, default=5)
    parser.add_argument("--remove", type=int, default=100)
    parser.add_argument("--draws", type=int, default=3, choices=range(1, 21), metavar="1..20")
    parser.add_argument("--pick", choices=("least-sure", "first"), default="least-sure")
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    shipped = Settings.resolve(args.data_dir, None, offline=True)
    with tempfile.TemporaryDirectory() as scratch:
        settings = Settings.resolve(args.data_dir, scratch, offline=True)
        result = {"timing": timed(shipped, settings)}
        print("influence for one image over 60,000 training images:",
              ", ".join(f"{k} {v}" for k, v in result["timing"].items()))
        print(f"counterfactual retraining, MNIST 1-layer, {args.images} images ({args.pick}), "
              f"{args.remove} removed, {args.draws} random draws:")
        result["counterfactual"] = counterfactual(settings, n=args.images, remove=args.remove, draws=args.draws,
                                                  pick=args.pick)
    print(f"the loss rose more without the proponents for {result['counterfactual']['passed']} of {args.images}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
