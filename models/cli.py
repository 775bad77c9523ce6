"""Command line: `python -m models train|evaluate|calibration|units|flip|table`; user errors end in one line on
stderr."""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Optional, Sequence

import torch
from tqdm import tqdm

import numpy as np

from . import adversarial, calibration, datasets, influence, kinds, nets, units
from .config import Settings
from .errors import ConfigError, LookInsideError
from .train import Progress
from .zoo import Zoo



class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a bad flag in one line, not a usage block plus a message."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="python -m models", description="Train and evaluate the Looking Inside networks.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    common = OneLineParser(add_help=False)
    common.add_argument("--data-dir", help="dataset root (default: $LOOKINSIDE_DATA_DIR, else ./data)")
    common.add_argument("--model-dir", help="the folder networks are saved to and read from first (default: "
                                           "$LOOKINSIDE_MODEL_DIR, else ~/.local/share/lookinside/models over the shipped "
                                           "./checkpoints, which are only read)")
    common.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    common.add_argument("--offline", action="store_true", help="never download; report missing data instead")
    pair = OneLineParser(add_help=False)
    pair.add_argument("--dataset", required=True, choices=list(datasets.DATASETS))
    pair.add_argument("--arch", required=True, choices=list(kinds.KINDS))
    pair.add_argument("--hidden", metavar="WIDTHS",
                      help=f"mlp only: hidden widths, e.g. 100 or 32,16 (0 to {kinds.MAX_HIDDEN_LAYERS} layers of 1 to "
                           f"{kinds.MAX_WIDTH} units; default 10, the chapter's; 0 is the 1-layer net)")
    pair.add_argument("--activation", choices=list(kinds.ACTIVATIONS), help="mlp only: default relu")

    train = sub.add_parser("train", parents=[common, pair], help="train a network and save its checkpoint")
    train.add_argument("--epochs", type=int, help="override the default number of epochs")
    train.add_argument("--seed", type=int, help="random seed (default 0)")
    train.add_argument("--exclude-train", metavar="FILE",
                       help="train without these training images: one index per line, from 0 in the split's file "
                            "order (name a scratch --model-dir: the network is saved as the pair's)")
    evaluate = sub.add_parser("evaluate", parents=[common, pair],
                              help="evaluate on the test split (trains first if there is no checkpoint)")
    evaluate.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    calibrate = sub.add_parser("calibration", parents=[common, pair],
                               help="how well its confidence matches its accuracy: reliability bins, ECE, temperature")
    calibrate.add_argument("--bins", type=int, default=calibration.BINS, help="equal-width confidence bins (default 15)")
    calibrate.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    unit = sub.add_parser("units", parents=[common, pair],
                          help="one unit over the test split: its top and bottom images and its class means")
    unit.add_argument("--layer", type=int, required=True,
                      help="1 is the first hidden layer (or block); the class scores are the last")
    unit.add_argument("--unit", type=int, required=True, help="from 1, as the page numbers them")
    unit.add_argument("--top", type=int, default=units.TOP, help=f"images at each end (default {units.TOP})")
    unit.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    flip = sub.add_parser("flip", parents=[common, pair],
                          help="the smallest change to a test image that makes the network say another class")
    flip.add_argument("--index", type=int, required=True, help="the test image, from 0 in the split's file order")
    flip.add_argument("--to", type=int, help="the class to make it say (its index; default: the nearest one)")
    flip.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    infl = sub.add_parser("influence", parents=[common, pair],
                          help="the training images that most raised and lowered a test image's predicted class "
                               "(TracIn over its training timeline; fully connected nets)")
    infl.add_argument("--index", type=int, required=True, help="the test image, from 0 in the split's file order")
    infl.add_argument("--top", type=int, default=influence.TOP, help=f"images each way (default {influence.TOP})")
    infl.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    table = sub.add_parser("table", parents=[common], help="retrain every pair and print a results table")
    table.add_argument("--datasets", nargs="+", choices=list(datasets.DATASETS),
                       default=["mnist", "fashion-mnist", "kmnist", "cifar10"])
    table.add_argument("--archs", nargs="+", choices=list(kinds.KINDS), default=list(kinds.KINDS))
    table.add_argument("--existing", action="store_true",
                       help="report the checkpoints already in the model dir instead of retraining")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    try:
        settings = Settings.resolve(args.data_dir, args.model_dir, args.offline, args.device)
        zoo = Zoo(settings)
        if args.command in ("train", "evaluate", "calibration", "units", "flip", "influence"):
            network = network_of(args)
        if args.command == "train":
            if args.epochs is not None and args.epochs < 1:
                raise LookInsideError("--epochs must be at least 1")
            config = zoo.default_config(args.dataset, network, epochs=args.epochs, seed=args.seed,
                                        exclude_train=read_indices(args.exclude_train))
            with ProgressBar(f"{args.dataset}/{network}") as bar:
                ckpt = zoo.train(args.dataset, network, config, on_progress=bar.update)
            print(f"{args.dataset}/{network}: {100 * ckpt.metrics['test_accuracy']:.2f}% test accuracy, "
                  f"trained in {ckpt.metrics['train_seconds']:.1f}s -> {zoo.checkpoint_path(args.dataset, network)}")
        elif args.command == "evaluate":
            with ProgressBar(f"{args.dataset}/{network}") as bar:
                ev = zoo.evaluation(args.dataset, network, on_progress=bar.update)
            ckpt = zoo.load(args.dataset, network)
            correlation = zoo.template_correlation(ckpt)
            if args.json:
                summary = ev.summary()
                summary["network"], summary["hidden"] = network, hidden_widths(ckpt.model)
                if correlation is not None:
                    summary["template_correlation"] = round(correlation, 6)
                print(json.dumps(summary))
            else:
                _print_evaluation(ev)
                if correlation is not None:
                    print(f"templates against class means (centred correlation, mean over classes): "
                          f"{correlation:.3f}")
        elif args.command == "calibration":
            if not 1 <= args.bins <= 100:
                raise LookInsideError("--bins must be between 1 and 100")
            found = _calibration(zoo, args.dataset, network, args.bins)
            if args.json:
                print(json.dumps({k: v for k, v in found.items() if k != "bins_scaled"}))
            else:
                print(f"{args.dataset}/{network}: expected calibration error {100 * found['ece']:.2f}% over "
                      f"{args.bins} bins; temperature {found['temperature']:.3f} (fitted on the training split's last "
                      f"{calibration.HELD_OUT:,} images) gives {100 * found['ece_scaled']:.2f}%")
        elif args.command == "units":
            found = _units(zoo, args.dataset, network, args.layer, args.unit, args.top)
            if args.json:
                print(json.dumps(found))
            else:
                print(f"{args.dataset}/{network}, layer {args.layer} ({found['title']}), {found['noun']} {args.unit}: "
                      f"highest on test images {', '.join(map(str, found['top'][:8]))}…; mean activation per class "
                      + ", ".join(f"{c} {m:.2f}" for c, m in zip(found["classes"], found["class_means"])))
        elif args.command == "influence":
            found = _influence(zoo, args.dataset, network, args.index, args.top)
            if args.json:
                print(json.dumps(found))
            else:
                for name in ("proponents", "opponents"):
                    print(f"{name}: " + ", ".join(f"#{i} ({s:+.3g})" for i, s in found[name]))
        elif args.command == "flip":
            found = _flip(zoo, args.dataset, network, args.index, args.to)
            if args.json:
                print(json.dumps(found))
            else:
                print(f"test image {args.index}: moving {found['changed_pixels']} pixels by a total (L2) of "
                      f"{found['l2']:.3f} makes it say {found['to_name']} instead of {found['from_name']} "
                      f"({'exact' if found['exact'] else 'found by search'})")
        else:
            print(_table(zoo, args.datasets, args.archs, retrain=not args.existing))
    except LookInsideError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


def _calibration(zoo: Zoo, dataset: str, network: str, bins: int) -> dict:
    """The network's calibration report on the test split, its temperature fitted on the training split's end."""
    ev, ckpt = zoo.evaluation(dataset, network), zoo.load(dataset, network)
    train = datasets.load(dataset, True, zoo.settings)
    images, labels = calibration.held_out(train.images, train.labels)
    t = calibration.fit_temperature(calibration.logits_of(ckpt.model, images, ckpt.normalization,
                                                          zoo.settings.device), labels)
    test = datasets.load(dataset, False, zoo.settings)
    logits = calibration.logits_of(ckpt.model, test.images, ckpt.normalization, zoo.settings.device)
    return calibration.report(logits, ev.labels, t, bins)


def _units(zoo: Zoo, dataset: str, network: str, layer: int, unit: int, top: int) -> dict:
    """One unit over the test split, numbered as the page numbers it (ConfigError for one it does not have)."""
    if not 1 <= top <= 1000:
        raise LookInsideError("--top must be between 1 and 1000")
    ckpt = zoo.load(dataset, network)
    chosen, index = units.find(ckpt.model, layer, unit)
    test = datasets.load(dataset, False, zoo.settings)
    values = units.activations(ckpt.model, test.images, ckpt.normalization, zoo.settings.device,
                               layer=chosen.number)[0][:, index]
    found = units.profile(values, test.labels.numpy(), len(ckpt.classes), top)
    return {"layer": layer, "unit": unit, "title": chosen.title, "noun": chosen.noun, "classes": list(ckpt.classes),
            **found.summary()}


def _influence(zoo: Zoo, dataset: str, network: str, index: int, top: int) -> dict:
    """TracIn proponents and opponents of test image `index` at the class the network gives it."""
    if not 1 <= top <= 1000:
        raise LookInsideError("--top must be between 1 and 1000")
    ckpt = zoo.load(dataset, network)
    influence.check_fully_connected(ckpt.model)
    test = datasets.load(dataset, False, zoo.settings)
    if not 0 <= index < len(test):
        raise LookInsideError(f"--index must be between 0 and {len(test) - 1}: the test split has {len(test):,} images")
    train = datasets.load(dataset, True, zoo.settings)
    kept = np.setdiff1d(np.arange(len(train)), np.asarray(ckpt.config.exclude_train, dtype=np.int64))
    train = datasets.without(train, ckpt.config.exclude_train)
    model = ckpt.model.eval()
    with torch.no_grad():
        target = int(model(ckpt.normalization.apply(test.images[index:index + 1])).argmax())
    checkpoints = influence.timeline_checkpoints(zoo, ckpt, len(train))
    image = test.images[index].numpy()
    if isinstance(model, nets.LinearNet):
        values = influence.LinearScorer(checkpoints, train.images, train.labels, ckpt.normalization).scores(image, target)
    else:
        values = influence.scores(checkpoints, train.images, train.labels, ckpt.normalization, image, target)
    found = influence.ranked(values, top)
    return {"index": index, "class": target,
            **{k: [[int(kept[i]), round(s, 9)] for i, s in rows] for k, rows in found.items()}}


def _flip(zoo: Zoo, dataset: str, network: str, index: int, to: Optional[int]) -> dict:
    """The smallest change to test image `index` that makes the network say another class (`to`, or the nearest)."""
    ckpt = zoo.load(dataset, network)
    test = datasets.load(dataset, False, zoo.settings)
    if not 0 <= index < len(test):
        raise LookInsideError(f"--index must be between 0 and {len(test) - 1}: the test split has {len(test):,} images")
    if to is not None and not 0 <= to < len(ckpt.classes):
        raise LookInsideError(f"--to must be a class index between 0 and {len(ckpt.classes) - 1}")
    image = test.images[index].numpy()
    model = ckpt.model.cpu().eval()
    with torch.no_grad():
        before = int(torch.argmax(model(ckpt.normalization.apply(torch.as_tensor(image)[None]))))
    if to == before:
        raise LookInsideError(f"it already says {ckpt.classes[to]} for test image {index}: pick another --to")
    change = adversarial.fool(model, image, ckpt.normalization, to)
    if change is None:
        raise LookInsideError("no change within the pixel range 0..1 was found that makes it say "
                              + ("that" if to is not None else "another class"))
    probs = torch.softmax(torch.as_tensor(change.logits), 0).numpy()
    return {"index": index, "from": before, "to": change.target, "from_name": ckpt.classes[before],
            "to_name": ckpt.classes[change.target], "l2": round(change.size, 6), "changed_pixels": change.pixels,
            "exact": change.exact, "image": [round(float(v), 6) for v in np.asarray(change.changed).reshape(-1)],
            "probabilities": [round(float(p), 6) for p in probs]}


def read_indices(path: Optional[str]) -> Optional[tuple[int, ...]]:
    """The training indices a file names, one per line (blank lines and # comments skipped)."""
    if path is None:
        return None
    try:
        lines = Path(path).read_text().splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise LookInsideError(f"cannot read --exclude-train {path}: {e.strerror if isinstance(e, OSError) else e}")
    found = []
    for number, line in enumerate(lines, 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        if not text.isdecimal() or len(text) > 9:
            raise LookInsideError(f"--exclude-train {path}, line {number}: {text[:20]!r} is not a training index")
        found.append(int(text))
    return tuple(sorted(set(found)))


def network_of(args) -> str:
    """The network id the --arch, --hidden and --activation flags name (ConfigError for a bad setting)."""
    if args.hidden is None and args.activation is None:
        return args.arch
    if args.arch != kinds.MLP_KIND.name:
        raise ConfigError(f"--hidden and --activation shape the fully connected net (--arch mlp), not {args.arch}")
    widths = (10,) if args.hidden is None else kinds.parse_widths(args.hidden)
    return kinds.fully_connected(widths, args.activation or "relu")


def hidden_widths(model) -> Optional[list[int]]:
    """The hidden widths of a fully connected net ([] for the 1-layer net), None for a convnet."""
    widths = getattr(model, "widths", None)
    return None if widths is None else list(widths)


class ProgressBar:
    """A tqdm bar on stderr, created on the first progress report (none appears when nothing trains)."""

    def __init__(self, label: str):
        self.label, self.bar = label, None

    def update(self, p: Progress) -> None:
        if self.bar is None:
            # disable=None: a bar on a terminal, silence in logs and pipes
            self.bar = tqdm(total=p.total_steps, desc=f"training {self.label}", unit="step", file=sys.stderr,
                            disable=None)
        self.bar.set_postfix(epoch=f"{p.epoch}/{p.epochs}", loss=f"{p.loss:.3f}", acc=f"{p.accuracy:.3f}",
                             refresh=False)
        self.bar.update(p.step - self.bar.n)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.close()


def _print_evaluation(ev) -> None:
    print(f"{ev.dataset}/{ev.arch}: accuracy {100 * ev.accuracy:.2f}% on {ev.n} test images")
    width = max(len(c) for c in ev.classes)
    print(f"{'class':>{width}}  precision  recall")
    for name, p, r in zip(ev.classes, ev.precision, ev.recall):
        print(f"{name:>{width}}  {100 * p:8.2f}%  {100 * r:5.2f}%")


def _table(zoo: Zoo, names: Sequence[str], archs: Sequence[str], retrain: bool = True) -> str:
    """Retrain each pair with its defaults (or read its checkpoint); rows that cannot be had say why."""
    rows = [f"Measured on {torch.get_num_threads()} CPU threads, torch {torch.__version__}.", "",
            "| dataset | arch | test accuracy | training time | target |", "|---|---|---|---|---|"]
    for name in names:
        for arch in archs:
            target = kinds.get(arch).targets.get(name)
            goal = f">= {100 * target[0]:.1f}% in <= {target[1]} s" if target else "report"
            try:
                if retrain:
                    with ProgressBar(f"{name}/{arch}") as bar:
                        ckpt = zoo.train(name, arch, on_progress=bar.update)
                else:
                    ckpt = zoo.load(name, arch)
            except LookInsideError as e:
                rows.append(f"| {name} | {arch} | not available: {str(e).split(' (')[0]} | | {goal} |")
                continue
            m = ckpt.metrics
            rows.append(f"| {name} | {arch} | {100 * m['test_accuracy']:.2f}% | {m['train_seconds']:.1f} s | {goal} |")
    return "\n".join(rows)
