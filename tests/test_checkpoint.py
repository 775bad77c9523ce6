"""Checkpoints round-trip, are written atomically, and broken ones are reported and retrained."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from models import checkpoint, datasets
from models.errors import CheckpointError
from models.train import TrainConfig
from models.zoo import Zoo

QUICK = TrainConfig(epochs=1, batch_size=32, lr=5e-3)


@pytest.fixture
def zoo(synth_settings, monkeypatch):
    # Keep the zoo's trainings quick: every pair trains with one short epoch.
    monkeypatch.setattr("models.zoo.default_config", lambda family, arch, dataset=None: TrainConfig(
        epochs=1, batch_size=32, lr=5e-3, arch_args={"widths": (8, 16)} if arch == "cnn" else {}))
    return Zoo(synth_settings)


def test_round_trip_rebuilds_the_same_network(zoo, synth_settings):
    saved = zoo.train("mnist", "mlp", QUICK)
    loaded = checkpoint.load(zoo.checkpoint_path("mnist", "mlp"))
    assert loaded.id == saved.id and loaded.classes == datasets.DATASETS["mnist"].classes
    assert loaded.config == QUICK and loaded.normalization == saved.normalization
    assert set(loaded.metrics) >= {"test_accuracy", "train_seconds", "history"}
    assert loaded.versions["torch"] == torch.__version__
    x = torch.randn(4, 1, 28, 28)
    assert torch.equal(loaded.model(x), saved.model(x))
    assert not list(synth_settings.model_dir.glob("*.tmp"))


def test_cnn_arch_args_survive_weights_only_loading(zoo):
    zoo.train("cifar10", "cnn", TrainConfig(epochs=1, batch_size=64, arch_args={"widths": (8, 16)}))
    loaded = checkpoint.load(zoo.checkpoint_path("cifar10", "cnn"))
    assert loaded.config.arch_args == {"widths": (8, 16)}
    assert loaded.model.first_layer_filters().shape == (8, 3, 5, 5)


@pytest.mark.parametrize("damage", [b"", b"garbage bytes, not a zip", None])
def test_damaged_checkpoint_is_one_line_error(zoo, damage):
    zoo.train("mnist", "linear", QUICK)
    path = zoo.checkpoint_path("mnist", "linear")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if damage is None else damage)
    with pytest.raises(CheckpointError) as err:
        checkpoint.load(path)
    assert "\n" not in str(err.value) and str(path) in str(err.value)
    # The page's sentence names the network, not the server's folder or what the file reader raised.
    with pytest.raises(CheckpointError) as err:
        checkpoint.load(path, dataset="mnist")
    assert err.value.brief == "The saved network mnist/linear is damaged and cannot be read."
    assert str(path.parent) not in err.value.brief and str(path) in str(err.value)


def test_every_checkpoint_error_has_a_brief_without_the_path(zoo):
    zoo.train("mnist", "linear", QUICK)
    path = zoo.checkpoint_path("mnist", "linear")
    payload = torch.load(path, weights_only=True)
    cases = [(path.with_name("mnist-mlp.pt"), None), (path, {"format": 1}), (path, {**payload, "format": 99}),
             (path, {**payload, "state_dict": {"fc.weight": torch.zeros(3, 3)}})]
    for where, saved in cases:
        if saved is not None:
            torch.save(saved, where)
        with pytest.raises(CheckpointError) as err:
            checkpoint.load(where, dataset="mnist")
        assert str(where) in str(err.value)  # the log and the command line keep the detail
        assert str(where.parent) not in err.value.brief and err.value.brief.endswith(".")
        assert "mnist/" in err.value.brief and "Error" not in err.value.brief


class _Payload:
    """Any object a plain pickle would rebuild by running code."""

    def __reduce__(self):
        return (print, ("this must never run",))


def test_checkpoint_with_foreign_objects_is_refused(zoo, capsys):
    zoo.train("mnist", "linear", QUICK)
    torch.save({"format": 1, "state_dict": _Payload()}, zoo.checkpoint_path("mnist", "linear"))
    with pytest.raises(CheckpointError, match="objects other than plain weights"):
        checkpoint.load(zoo.checkpoint_path("mnist", "linear"))
    assert "this must never run" not in capsys.readouterr().out


def test_mismatched_checkpoint_is_rejected(zoo):
    zoo.train("mnist", "linear", QUICK)
    with pytest.raises(CheckpointError, match="for dataset 'mnist', not 'cifar10'"):
        checkpoint.load(zoo.checkpoint_path("mnist", "linear"), dataset="cifar10")
    payload = torch.load(zoo.checkpoint_path("mnist", "linear"), weights_only=True)
    payload["state_dict"]["fc.weight"] = torch.zeros(3, 3)
    torch.save(payload, zoo.checkpoint_path("mnist", "linear"))
    with pytest.raises(CheckpointError, match="does not match its network"):
        checkpoint.load(zoo.checkpoint_path("mnist", "linear"))


def test_ensure_retrains_a_corrupt_checkpoint_and_refreshes_the_evaluation(zoo, caplog):
    first = zoo.ensure("mnist", "linear")
    ev_first = zoo.evaluation("mnist", "linear")
    assert ev_first.checkpoint_id == first.id
    zoo.checkpoint_path("mnist", "linear").write_bytes(b"\x00not a checkpoint")
    with caplog.at_level("WARNING", logger="lookinside"):
        second = zoo.ensure("mnist", "linear")
    assert second.id != first.id
    assert any("unreadable" in r.message and "retraining" in r.message for r in caplog.records)
    ev_second = zoo.evaluation("mnist", "linear")
    assert ev_second.checkpoint_id == second.id


def test_evaluation_is_cached_on_disk_and_matches_the_model(zoo, synth_settings):
    ckpt = zoo.ensure("mnist", "linear")
    ev = zoo.evaluation("mnist", "linear")
    test = datasets.load("mnist", False, synth_settings)
    logits = ckpt.model(ckpt.normalization.apply(test.images))
    assert np.array_equal(ev.preds, logits.argmax(1).numpy())
    assert (synth_settings.model_dir / "mnist-linear.eval.npz").exists()
    assert ev.accuracy == pytest.approx(ckpt.metrics["test_accuracy"])
