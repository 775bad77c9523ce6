"""app/background.py: the jobs of a network whose passes are jobs (models.kinds.Pass.JOB) write the files its
page reads: every layer over both splits, and the test split with units switched off."""
from __future__ import annotations

import numpy as np
import pytest

from app import background, runner
from models import datasets, layers
from models.kinds import Pass
from tests.conftest import quick_service


@pytest.fixture(scope="module")
def convnet(tmp_path_factory):
    with quick_service(tmp_path_factory.mktemp("background"), (("cifar10", "cnn"),)) as service:
        yield service, service.view("cifar10", "cnn")


def run(service, view, mode, detail=""):
    handle = background.request(service, view, mode, detail, "visitor", False)
    assert "error" not in handle
    runner.run(service.queue, handle["id"])
    job = service.queue.get(handle["id"])
    assert job.state == "done", job.message
    return job


def test_the_features_job_writes_every_layer_the_page_then_reads(convnet):
    service, view = convnet
    reps = service.representations
    assert view.kind.maps is Pass.JOB
    assert not reps.ready(view) and reps.layer(view, "pooled") is None and reps.separation(view) is None
    job = run(service, view, "features")
    assert job.result == {"dataset": "cifar10", "network": "cnn", "mode": "features", "detail": ""}
    assert reps.ready(view)
    ckpt = view.checkpoint
    want = layers.features(ckpt.model, view.images.images, ckpt.normalization)
    for key in ("pooled", "logits"):
        np.testing.assert_allclose(reps.layer(view, key), want[key], rtol=1e-4, atol=1e-5)
    train = datasets.load("cifar10", True, service.local)
    rows, distances = reps.nearest(view, "pooled", 0)
    assert len(rows) == 8 and all(0 <= r < len(train) for r in rows) and np.all(np.diff(distances) >= -1e-6)
    assert set(reps.separation(view)) == {"input", "pooled", "logits"}


def test_the_switch_job_writes_the_switched_off_evaluation(convnet):
    service, view = convnet
    reps = service.representations
    assert view.kind.switching is Pass.JOB and reps.switched(view, (0, 2)) is None  # not until the job ran
    run(service, view, "off", "0_2")
    switched = reps.switched(view, (0, 2))
    ckpt = view.checkpoint
    want = layers.probs_without(ckpt.model, view.images.images, ckpt.normalization, [0, 2])
    np.testing.assert_allclose(switched.probs, want, rtol=1e-5, atol=1e-6)
    assert switched.n == view.evaluation.n
