"""The training loop: learns, is reproducible, reports progress, can be cancelled; augmentation is exact."""
from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from models import datasets
from models.errors import TrainingCancelled
from models.train import Normalization, TrainConfig, augment, default_config, fit, predict_proba

QUICK = TrainConfig(epochs=3, batch_size=32, lr=5e-3)


def _norm(data):
    return Normalization(*map(tuple, datasets.channel_stats(data.images)))


@pytest.mark.parametrize("arch", ["linear", "mlp"])
def test_learns_the_synthetic_task_and_is_reproducible(synth_settings, arch):
    train = datasets.load("mnist", True, synth_settings)
    test = datasets.load("mnist", False, synth_settings)
    norm = _norm(train)
    model_a, report = fit(arch, train, norm, QUICK)
    model_b, _ = fit(arch, train, norm, QUICK)
    probs = predict_proba(model_a, test.images, norm)
    assert (probs.argmax(1) == test.labels.numpy()).mean() >= 0.9
    assert np.allclose(probs.sum(1), 1, atol=1e-5)
    for (name, a), b in zip(model_a.state_dict().items(), model_b.state_dict().values()):
        assert torch.equal(a, b), name
    assert len(report.history) == QUICK.epochs


def test_cnn_trains_on_cifar_layout(synth_settings):
    train = datasets.load("cifar10", True, synth_settings)
    cfg = TrainConfig(epochs=1, batch_size=64, optimizer="sgd", lr=0.05, augment=True,
                      arch_args={"widths": (8, 16)})
    model, report = fit("cnn", train, _norm(train), cfg)
    assert model(torch.zeros(1, 3, 32, 32)).shape == (1, 10)
    assert np.isfinite(report.history[0]["loss"])


def test_progress_reports_every_step_count_and_epoch(synth_settings):
    train = datasets.load("mnist", True, synth_settings)
    seen = []
    fit("linear", train, _norm(train), QUICK, on_progress=seen.append, report_every=3)
    steps = [p.step for p in seen]
    assert steps == sorted(steps) and seen[-1].step == seen[-1].total_steps
    assert {p.epoch for p in seen} == {1, 2, 3}
    assert all(0 <= p.accuracy <= 1 and p.loss > 0 for p in seen)
    assert seen[-1].fraction == 1.0


def test_cancel_from_another_thread_stops_training(synth_settings):
    train = datasets.load("mnist", True, synth_settings)
    cancel = threading.Event()
    seen = []

    def on_progress(p):
        seen.append(p)
        if p.step >= 5:
            threading.Thread(target=cancel.set).start()

    with pytest.raises(TrainingCancelled, match="cancelled after"):
        fit("linear", train, _norm(train), TrainConfig(epochs=50, batch_size=8), on_progress=on_progress,
            cancel=cancel, report_every=1)
    assert seen[-1].step < 50 * len(train) // 8


def test_augment_shifts_and_flips_exactly():
    images = torch.arange(2 * 1 * 4 * 4, dtype=torch.uint8).reshape(2, 1, 4, 4)
    gen = torch.Generator().manual_seed(0)
    out = augment(images, gen, pad=0)  # no shift possible: each image is either itself or mirrored
    for i in range(2):
        assert torch.equal(out[i], images[i]) or torch.equal(out[i], images[i].flip(-1))
    shifted = augment(images, torch.Generator().manual_seed(1), pad=2)
    assert shifted.shape == images.shape and shifted.dtype == torch.uint8


def test_default_config_overrides():
    cfg = default_config("mnist", "linear", epochs=2, seed=None)
    assert cfg.epochs == 2 and cfg.seed == 0
    with pytest.raises(ValueError):
        default_config("mnist", "resnet")
