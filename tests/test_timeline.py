"""Training timelines: when snapshots are taken, what they hold, and that taking them changes nothing."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from models import datasets, kinds, timeline
from models.errors import DamagedCache
from models.train import Normalization, TrainConfig, fit
from tests.conftest import quick_config


def test_schedule_is_dense_early_then_at_epoch_ends():
    assert timeline.schedule(100, 3) == [0, 10, 25, 50, 100, 200, 300]
    assert timeline.schedule(4, 2) == [0, 4, 8]
    long = timeline.schedule(235, 40)  # the 2-layer MNIST run: epoch ends are thinned
    ends = [s for s in long if s % 235 == 0 and s > 0]
    assert len(ends) <= timeline.MAX_EPOCH_SNAPSHOTS + 1 and long[-1] == 235 * 40


def test_snapshots_do_not_change_training(synth_settings):
    data = datasets.load("mnist", True, synth_settings)
    norm = Normalization((0.1,), (0.3,))
    cfg = TrainConfig(epochs=2, batch_size=32, lr=5e-3)
    plain, _ = fit("mlp", data, norm, cfg)
    seen = []
    watched, _ = fit("mlp", data, norm, cfg, on_snapshot=lambda step, m: seen.append((step, m.training)),
                     snapshot_steps=(0, 5, 10, 20))
    for a, b in zip(plain.state_dict().values(), watched.state_dict().values()):
        assert torch.equal(a, b)
    assert [s for s, _ in seen] == [0, 5, 10, 20] and not any(training for _, training in seen)


def test_zoo_keeps_a_timeline_that_replays_training(synth_settings, monkeypatch):
    from models.zoo import Zoo
    monkeypatch.setattr("models.zoo.default_config", quick_config)
    zoo = Zoo(synth_settings)
    watched = []
    ckpt = zoo.train("mnist", "linear", on_snapshot=lambda snap, model, norm: watched.append(snap.step))
    snaps = zoo.timeline(ckpt)
    steps_per_epoch = -(-len(datasets.load("mnist", True, synth_settings)) // 32)
    assert [s.step for s in snaps] == timeline.schedule(steps_per_epoch, 2)[:-1]
    assert watched == [s.step for s in snaps] + [2 * steps_per_epoch]
    # Snapshot 0 is the seeded initialisation, before any batch.
    torch.manual_seed(0)
    init = kinds.build("linear", (1, 28, 28), 10)
    assert torch.allclose(snaps[0].state_dict["fc.weight"].float(), init.fc.weight, atol=1e-3)
    # Each position is a network of its own with its own evaluation; the last is the checkpoint itself.
    first = zoo.snapshot(ckpt, 0)
    assert first.id == f"{ckpt.id}@0" and first.metrics["label"] == "untrained"
    assert zoo.snapshot(ckpt, len(snaps)) is ckpt
    ev0, final = zoo.evaluate(first), zoo.evaluation("mnist", "linear")
    assert ev0.checkpoint_id == first.id and final.checkpoint_id == ckpt.id
    assert final.accuracy > ev0.accuracy
    assert (synth_settings.model_dir / "mnist-linear@0.eval.npz").is_file()


def test_a_stale_timeline_is_ignored_and_a_damaged_one_reported(tmp_path):
    model = torch.nn.Linear(3, 2)
    path = tmp_path / "t.timeline.pt"
    timeline.save(path, "abc", [timeline.capture(model, 0, 10), timeline.capture(model, 10, 10)])
    loaded = timeline.load(path, "abc")
    assert [s.step for s in loaded] == [0, 10] and loaded[1].label == "epoch 1"
    assert loaded[0].state_dict["weight"].dtype == torch.float16
    assert np.allclose(loaded[0].state_dict["weight"].float(), model.weight.detach(), atol=1e-3)
    assert timeline.load(path, "another checkpoint") is None
    assert timeline.load(tmp_path / "missing.pt", "abc") is None
    whole = path.read_bytes()
    for damaged in (whole[:len(whole) // 2], b"not a timeline"):
        path.write_bytes(damaged)
        with pytest.raises(DamagedCache, match="t.timeline.pt is damaged"):
            timeline.load(path, "abc")
