"""models/influence.py: TracIn over the timeline. The rank-one scorer of the 1-layer net equals the general
linear-layer form, and that equals explicit per-image gradient dot products; `python -m models influence` and
`train --exclude-train` work from the command line."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from models import cli, datasets, influence
from models.config import Normalization, Settings
from models.nets import MLP, LinearNet
from tests.conftest import quick_trained, real_data_dir

NORM = Normalization((0.3,), (0.3,))


def oracle(checkpoints, images, labels, image, target):
    """Every training image's whole flattened gradient, dotted with the test image's, eta-weighted."""
    total = np.zeros(len(images))
    for ck in checkpoints:
        params = list(ck.model.parameters())

        def grad(x, y):
            loss = F.cross_entropy(ck.model(NORM.apply(x[None])), torch.tensor([y]))
            return torch.cat([g.flatten() for g in torch.autograd.grad(loss, params)])
        g_t = grad(torch.as_tensor(image), target)
        total += ck.weight * np.array([float(grad(x, int(y)) @ g_t) for x, y in zip(images, labels)])
    return total


@pytest.mark.parametrize("make", [lambda: LinearNet((1, 6, 6), 4), lambda: MLP((1, 6, 6), 4, (5, 3), "tanh")])
def test_scores_are_the_weighted_gradient_dot_products(make):
    torch.manual_seed(0)
    checkpoints = [influence.Checkpoint(make(), w, s) for w, s in ((0.5, 10), (1.5, 20))]
    images = torch.randint(0, 256, (30, 1, 6, 6), dtype=torch.uint8)
    labels = torch.randint(0, 4, (30,))
    image = images[0].numpy()
    want = oracle(checkpoints, images, labels, image, 2)
    got = influence.scores(checkpoints, images, labels, NORM, image, 2, chunk=7)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)
    if isinstance(checkpoints[0].model, LinearNet):
        fast = influence.LinearScorer(checkpoints, images, labels, NORM, chunk=7).scores(image, 2)
        np.testing.assert_allclose(fast, want, rtol=1e-4, atol=1e-6)


def test_each_checkpoint_weighs_the_learning_rates_of_its_steps():
    assert influence.weights([2, 5], lambda s: s + 1) == [1 + 2, 3 + 4 + 5]


def test_the_command_line_ranks_and_retrains_without(tmp_path, capsys):
    with quick_trained(tmp_path, (("mnist", "linear"),)) as (settings, zoo):
        common = ["--offline", "--data-dir", str(settings.data_dir), "--model-dir", str(settings.model_dir)]
        assert cli.main(["influence", "--dataset", "mnist", "--arch", "linear", "--index", "3", "--top", "4", "--json",
                         *common]) == 0
        found = json.loads(capsys.readouterr().out)
        assert found["index"] == 3 and len(found["proponents"]) == 4 and len(found["opponents"]) == 4
        scores = [s for _, s in found["proponents"]]
        assert scores == sorted(scores, reverse=True) and scores[0] >= found["opponents"][0][1]
        left = tmp_path / "left.txt"
        left.write_text("\n".join(str(i) for i, _ in found["proponents"]) + "\n# a comment\n")
        assert cli.main(["train", "--dataset", "mnist", "--arch", "linear", "--exclude-train", str(left), *common]) == 0
        ckpt = zoo.load("mnist", "linear")
        assert sorted(ckpt.config.exclude_train) == sorted(i for i, _ in found["proponents"])
        n = len(datasets.load("mnist", True, settings))
        assert len(datasets.without(datasets.load("mnist", True, settings), ckpt.config.exclude_train)) == n - 4
        left.write_text("12x\n")
        capsys.readouterr()
        assert cli.main(["train", "--dataset", "mnist", "--arch", "linear", "--exclude-train", str(left), *common]) == 2
        assert "is not a training index" in capsys.readouterr().err
        assert cli.main(["influence", "--dataset", "mnist", "--arch", "cnn", "--index", "0", *common]) == 2


def test_removing_the_proponents_raises_the_loss_more_than_removing_random_images(tmp_path):
    """Issue 27's counterfactual check on the real MNIST, the 1-layer net with its shipped settings: for 5 test
    images, retraining without the top 100 proponents raises the image's loss more than retraining without 100
    random training images (3 draws), for at least 4 of them (bench.influence prints the figures)."""
    from bench.influence import counterfactual
    settings = Settings.resolve(real_data_dir(), tmp_path, offline=True)
    found = counterfactual(settings, n=5, remove=100, draws=3, log=lambda *a: None)
    assert found["passed"] >= 4, found["images"]
