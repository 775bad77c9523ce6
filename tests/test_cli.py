"""The command line, in-process on synthetic data and as a real subprocess on the real datasets."""
from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from models import checkpoint, cli, datasets
from models.config import Settings
from models.evaluate import Evaluation
from tests.conftest import real_data_dir

ROOT = Path(__file__).resolve().parent.parent


def _args(settings, *extra):
    return ["--data-dir", str(settings.data_dir), "--model-dir", str(settings.model_dir), "--offline", *extra]


def test_evaluate_json_trains_first_then_prints_one_object(synth_settings, capsys):
    rc = cli.main(["evaluate", "--dataset", "mnist", "--arch", "linear", "--json", *_args(synth_settings)])
    out = capsys.readouterr().out
    assert rc == 0
    result = json.loads(out)  # exactly one JSON object: json.loads rejects anything around it
    assert set(result) == {"dataset", "arch", "split", "n", "accuracy", "classes", "confusion", "precision",
                           "recall", "template_correlation", "network", "hidden"}
    assert result["network"] == "linear" and result["hidden"] == []  # no hidden layer
    labels = datasets.load("mnist", False, synth_settings).labels
    assert [sum(r) for r in result["confusion"]] == torch.bincount(labels, minlength=10).tolist()
    assert (synth_settings.model_dir / "mnist-linear.pt").exists()
    # The templates' likeness to the class means, recomputed here with numpy alone.
    ckpt = checkpoint.load(synth_settings.model_dir / "mnist-linear.pt")
    train = datasets.load("mnist", True, synth_settings)
    x, y = train.images.numpy().reshape(len(train.labels), -1) / 255.0, train.labels.numpy()
    means = np.stack([x[y == c].mean(0) for c in range(10)])
    w = ckpt.model.fc.weight.detach().double().numpy() / ckpt.normalization.std[0]
    t, m = w - w.mean(0), means - means.mean(0)
    want = np.mean([np.corrcoef(t[c], m[c])[0, 1] for c in range(10)])
    assert abs(result["template_correlation"] - want) < 1e-5
    assert result["template_correlation"] == pytest.approx(ckpt.metrics["template_correlation"], abs=1e-4)
    rc = cli.main(["evaluate", "--dataset", "mnist", "--arch", "mlp", "--json", *_args(synth_settings)])
    assert rc == 0 and "template_correlation" not in json.loads(capsys.readouterr().out)  # 1-layer nets only


def test_train_with_epochs_and_seed(synth_settings, capsys):
    rc = cli.main(["train", "--dataset", "mnist", "--arch", "mlp", "--epochs", "1", "--seed", "7",
                   *_args(synth_settings)])
    assert rc == 0 and "test accuracy" in capsys.readouterr().out
    ckpt = checkpoint.load(synth_settings.model_dir / "mnist-mlp.pt")
    assert ckpt.config.epochs == 1 and ckpt.config.seed == 7


@pytest.mark.parametrize("argv, message", [
    (["evaluate", "--dataset", "svhn", "--arch", "linear"], "invalid choice: 'svhn'"),
    (["evaluate", "--dataset", "mnist", "--arch", "resnet"], "invalid choice: 'resnet'"),
    (["train", "--dataset", "mnist", "--arch", "linear", "--device", "tpu"], "device 'tpu'"),
    (["train", "--dataset", "mnist", "--arch", "linear", "--epochs", "0"], "--epochs must be at least 1"),
])
def test_bad_input_is_one_line_on_stderr(argv, message, capsys, tmp_path):
    with pytest.raises(SystemExit) if "invalid choice" in message else contextlib.nullcontext():
        rc = cli.main(argv + ["--model-dir", str(tmp_path)])
        assert rc == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_missing_data_offline_and_unwritable_model_dir(tmp_path, capsys):
    rc = cli.main(["evaluate", "--dataset", "cifar10", "--arch", "linear", "--offline",
                   "--data-dir", str(tmp_path), "--model-dir", str(tmp_path / "m")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "CIFAR-10 data is not available" in err and len(err.splitlines()) == 1
    blocker = tmp_path / "file"
    blocker.write_text("x")
    rc = cli.main(["train", "--dataset", "mnist", "--arch", "linear", "--model-dir", str(blocker / "sub")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "cannot create model dir" in err


def _run_cli(*argv, env_extra=None) -> subprocess.CompletedProcess:
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "models", *argv], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)


def test_real_mnist_linear_through_the_cli(tmp_path):
    data = real_data_dir()
    proc = _run_cli("evaluate", "--dataset", "mnist", "--arch", "linear", "--json", "--offline",
                    "--data-dir", str(data), "--model-dir", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["n"] == 10000 and result["accuracy"] >= 0.92
    mnist_test_counts = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert [sum(r) for r in result["confusion"]] == mnist_test_counts


def _shipped():
    return sorted(p for p in (ROOT / "checkpoints").glob("*.pt") if not p.name.endswith(".timeline.pt"))


@pytest.mark.parametrize("path", sorted((ROOT / "checkpoints").glob("*.timeline.pt")), ids=lambda p: p.stem)
def test_shipped_timeline_belongs_to_its_checkpoint(path):
    from models import timeline
    ckpt = checkpoint.load(path.with_name(path.name.replace(".timeline.pt", ".pt")))
    snaps = timeline.load(path, ckpt.id)
    assert snaps and snaps[0].step == 0 and [s.step for s in snaps] == sorted(s.step for s in snaps)


@pytest.mark.parametrize("path", _shipped(), ids=lambda p: p.stem)
def test_shipped_checkpoint_reproduces_its_recorded_accuracy(path):
    data = real_data_dir()
    ckpt = checkpoint.load(path)
    settings = Settings(data_dir=data, offline=True)
    try:
        test = datasets.load(ckpt.dataset, False, settings)
    except datasets.DataError:
        pytest.skip(f"{ckpt.dataset} data is not in {data}")
    from models.train import predict_proba
    probs = predict_proba(ckpt.model, test.images, ckpt.normalization)
    ev = Evaluation(ckpt.dataset, ckpt.arch, ckpt.classes, ckpt.id, test.labels.numpy(), probs)
    assert ev.accuracy == pytest.approx(ckpt.metrics["test_accuracy"], abs=0.002)
    if ckpt.arch == "linear":  # the templates look like their classes, as recorded and as issue 13 asks
        from models import templates
        train = datasets.load(ckpt.dataset, True, settings)
        per_class = templates.correlations(ckpt.model, ckpt.normalization, train.images, train.labels)
        assert per_class.mean() == pytest.approx(ckpt.metrics["template_correlation"], abs=1e-3)
        assert per_class.tolist() == pytest.approx(ckpt.metrics["template_correlations"], abs=1e-3)
        floor = {"mnist": (0.925, 0.60), "fashion-mnist": (0.84, 0.53), "cifar10": (0.40, 0.38)}[ckpt.dataset]
        assert ev.accuracy >= floor[0] and per_class.mean() >= floor[1]


def test_a_network_of_any_shape_trains_evaluates_and_reloads(synth_settings, capsys):
    shape = ["--dataset", "mnist", "--arch", "mlp", "--hidden", "6, 4", "--activation", "tanh"]
    assert cli.main(["train", *shape, "--epochs", "1", *_args(synth_settings)]) == 0
    path = synth_settings.model_dir / "mnist-mlp-6-4-tanh.pt"
    assert path.exists() and "mlp-6-4-tanh" in capsys.readouterr().out
    assert cli.main(["evaluate", *shape, "--json", *_args(synth_settings)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["network"] == "mlp-6-4-tanh" and result["hidden"] == [6, 4] and result["arch"] == "mlp"
    ckpt = checkpoint.load(path)  # a self-describing checkpoint, read with weights_only=True
    assert ckpt.model.widths == (6, 4) and isinstance(ckpt.model.act, torch.nn.Tanh)
    assert ckpt.config.epochs == 1
    # The chapter's two nets keep their names: 10 ReLU units is "mlp", no hidden layer is "linear".
    assert cli.main(["evaluate", "--dataset", "mnist", "--arch", "mlp", "--hidden", "10", "--json",
                     *_args(synth_settings)]) == 0
    assert json.loads(capsys.readouterr().out)["network"] == "mlp"


@pytest.mark.parametrize("flags, says", [
    (["--hidden", "2000"], "each hidden layer has 1 to 1,024 units"),
    (["--hidden", "8,8,8,8"], "at most 3 hidden layers"),
    (["--hidden", "32;x"], "hidden widths are whole numbers"),
    (["--hidden", "-5"], "hidden widths are whole numbers"),
    (["--arch", "cnn", "--hidden", "8"], "shape the fully connected net"),
    (["--activation", "swish"], "invalid choice: 'swish'"),
])
def test_bad_shapes_exit_2_with_one_line(synth_settings, capsys, flags, says):
    with pytest.raises(SystemExit) if "swish" in flags else contextlib.nullcontext() as raised:
        rc = cli.main(["train", "--dataset", "mnist", "--arch", "mlp", *flags, *_args(synth_settings)])
    rc = raised.value.code if raised is not None else rc
    err = capsys.readouterr().err
    assert rc == 2 and says in err and len(err.strip().splitlines()) == 1
    assert not list(synth_settings.model_dir.glob("*.pt"))
