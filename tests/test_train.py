"""The training loop: learns, is reproducible, reports progress, can be cancelled; augmentation is exact."""
from __future__ import annotations

import threading
from dataclasses import replace

import numpy as np
import pytest
import torch

from models import datasets
from models.errors import TrainingCancelled
from models.train import Normalization, TrainConfig, augment, first_layer_images, fit, predict_proba, roughness

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


def _shifted(image: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """`image` moved by (dy, dx) pixels with zero fill (what a crop of the zero-padded image gives)."""
    out = torch.zeros_like(image)
    h, w = image.shape[-2:]
    out[..., max(0, dy):h + min(0, dy), max(0, dx):w + min(0, dx)] = \
        image[..., max(0, -dy):h - max(0, dy), max(0, -dx):w - max(0, dx)]
    return out


def test_augment_shifts_and_flips_exactly():
    """Every output is its own image, mirrored or not, moved by at most `pad` pixels with zero fill; and
    over 64 images both flips and several different shifts occur (an identity augment fails this)."""
    images = (torch.arange(64 * 2 * 5 * 5) % 251 + 1).to(torch.uint8).reshape(64, 2, 5, 5)
    out = augment(images, torch.Generator().manual_seed(0), pad=0)
    flipped = [not torch.equal(o, i) for o, i in zip(out, images)]
    for o, i, f in zip(out, images, flipped):
        assert torch.equal(o, i.flip(-1) if f else i)
    assert 10 < sum(flipped) < 54
    out = augment(images, torch.Generator().manual_seed(1), pad=2)
    assert out.shape == images.shape and out.dtype == torch.uint8
    moves = set()
    for o, i in zip(out, images):
        found = [(dy, dx, f) for dy in range(-2, 3) for dx in range(-2, 3) for f in (False, True)
                 if torch.equal(o, _shifted(i.flip(-1) if f else i, dy, dx))]
        assert found, "an output is not a shifted (and maybe mirrored) copy of its image"
        moves.add(found[0][:2])
    assert len(moves) >= 10  # of the 25 possible moves


def test_roughness_is_the_squared_laplacian():
    spike = torch.zeros(1, 1, 5, 5)
    spike[0, 0, 2, 2] = 1
    assert float(roughness(spike)) == 20.0  # 4² at the spike, 1² at each of its four neighbours
    assert float(roughness(torch.zeros(3, 1, 5, 5))) == 0.0
    smooth = torch.outer(torch.hann_window(12, periodic=False), torch.hann_window(12, periodic=False))
    noise = torch.randn(12, 12, generator=torch.Generator().manual_seed(0)) * smooth.std()
    assert roughness(smooth[None, None]) < roughness(noise[None, None]) / 20


def test_a_smoothness_penalty_makes_smoother_first_layers(synth_settings):
    train = datasets.load("mnist", True, synth_settings)
    norm = _norm(train)
    plain, _ = fit("linear", train, norm, QUICK)
    smooth, _ = fit("linear", train, norm, replace(QUICK, smoothness=0.1))
    assert roughness(first_layer_images(smooth)) < 0.5 * roughness(first_layer_images(plain))
    seen = []  # a zero-initialised net starts blank: the timeline's first templates are empty
    fit("linear", train, norm, replace(QUICK, epochs=1, arch_args={"init": "zeros"}), snapshot_steps=(0,),
        on_snapshot=lambda step, model: seen.append(model.fc.weight.abs().max().item()))
    assert seen == [0.0]


def test_averaged_weights_are_what_snapshots_see_and_training_returns(synth_settings):
    """With `average`, every snapshot and the result are the exponential moving average of the steps' weights
    (checked against one kept here by hand), while the steps themselves go on from the raw weights."""
    train = datasets.load("mnist", True, synth_settings)
    norm = _norm(train)
    cfg = TrainConfig(epochs=2, batch_size=32, optimizer="sgd", lr=0.5, average=0.9, arch_args={"init": "zeros"})
    raw, _ = fit("linear", train, norm, replace(cfg, average=0.0))
    seen = {}

    def snapshot(step, model):
        seen[step] = model.fc.weight.detach().clone()
    averaged, report = fit("linear", train, norm, cfg, on_snapshot=snapshot, snapshot_steps=(0, 3, 10))
    # The hand-kept average: replay the raw run step by step (its weights after each step) and average them.
    steps = []
    fit("linear", train, norm, replace(cfg, average=0.0),
        on_snapshot=lambda step, model: steps.append(model.fc.weight.detach().clone()),
        snapshot_steps=tuple(range(0, 1000)))
    mean = steps[0].clone()
    for t, w in enumerate(steps[1:], start=1):
        keep = min(0.9, (1 + t) / (10 + t))
        mean = keep * mean + (1 - keep) * w
        if t in (3, 10):
            torch.testing.assert_close(seen[t], mean, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(averaged.fc.weight.detach(), mean, rtol=1e-4, atol=1e-6)
    assert not torch.allclose(averaged.fc.weight, raw.fc.weight)  # the average, not the last step's weights
    assert torch.equal(seen[0], torch.zeros_like(seen[0]))
    with pytest.raises(ValueError, match="between 0 and 1"):
        fit("linear", train, norm, replace(cfg, average=1.5))
    assert len(report.history) == 2
