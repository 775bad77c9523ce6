"""Running the app never changes the checkout (issue 24): from a clean clone, with no model folder named, a
session of use (opening the shipped networks, watching one train again, building one, a timeline snapshot, a
map and units switched off) writes only to the user's data folder, and `git status` stays clean."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from app import runner
from app.access import Access
from app.jobs import Queue, default_folder
from app.main import create_app
from app.state import screen
from models.config import MODEL_DIR_ENV, SHIPPED_DIR_ENV, Settings
from tests.conftest import make_mnist_only, quick_config, quick_shape_config
from tests.test_app_callbacks import triggered

REPO = Path(__file__).resolve().parent.parent


def git(*args, cwd) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def clone(tmp_path):
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("needs git and a git checkout")
    target = tmp_path / "clone"
    git("clone", "--quiet", str(REPO), str(target), cwd=tmp_path)
    assert git("status", "--porcelain", "--ignored", cwd=target) == ""
    return target


def test_a_session_of_use_leaves_the_clone_as_it_was(clone, tmp_path, monkeypatch):
    settings_data, _ = make_mnist_only(tmp_path, monkeypatch)  # 28x28 digits: the shipped MNIST nets read them
    home = tmp_path / "home"
    monkeypatch.setenv("XDG_DATA_HOME", str(home))
    monkeypatch.delenv(MODEL_DIR_ENV, raising=False)
    monkeypatch.delenv("LOOKINSIDE_JOBS_DIR", raising=False)
    monkeypatch.setenv(SHIPPED_DIR_ENV, str(clone / "checkpoints"))  # the clone's, as `make run` there reads
    monkeypatch.setattr("models.zoo.default_config", quick_config)
    monkeypatch.setattr("models.zoo.shape_config", quick_shape_config)
    settings = Settings.resolve(data_dir=settings_data.data_dir, offline=True)
    assert settings.model_dir == (home / "lookinside" / "models").resolve()
    assert settings.shipped_dir == (clone / "checkpoints").resolve()
    folder = default_folder(settings.model_dir)
    assert folder.is_relative_to(settings.model_dir)  # two instances share a queue only when told to
    queue = Queue(folder, launch=lambda q, job: None)
    app = create_app(settings, access=Access(open=True), queue=queue)
    cb, service = app.lookinside_callbacks, app.lookinside_service

    monkeypatch.setattr("app.access.Limits.check", lambda self, name: None)  # one visitor presses more than a person
    # The shipped nets were tested on the real 10,000 images: here they are evaluated on this copy ("Train it"
    # runs that evaluation), and it is written to the user's folder.
    for network in ("linear", "mlp"):
        found = cb["resolve"]("mnist", network)["resolved"]
        assert found["status"] == "untrained"
        job = triggered(cb["resolve"], "train-it.n_clicks", 1, "mnist", network, 0, None, None, 1)["job"]
        runner.run(queue, job["id"])
        assert queue.get(job["id"]).state == "done", queue.get(job["id"]).message
    shipped = cb["resolve"]("mnist", "linear")["resolved"]
    assert shipped["status"] == "ready"
    store = screen(shipped, None, "mnist", "linear", None)
    assert cb["heatmap"](store, "counts", "numbers")
    service.snapshot("mnist", "linear", 0)  # a timeline snapshot, evaluated once
    cb["embedding"](screen(cb["resolve"]("mnist", "mlp")["resolved"], None, "mnist", "mlp", None), "hidden1", "pca")
    service.representations.switched(service.view("mnist", "mlp"), (1, 2))  # units switched off

    watch = triggered(cb["resolve"], "watch-button.n_clicks", 1, "mnist", "linear", 1, None)["job"]
    assert watch["mode"] == "retrain"  # one person's own machine: "Watch it train" replaces the network
    runner.run(queue, watch["id"])
    assert queue.get(watch["id"]).state == "done"
    props = {}
    note = triggered(cb["build"], "build-train.n_clicks", 1, 1, None, "12", "tanh", "mnist", props=props)
    assert "trains in the queue" in note[0], note
    runner.run(queue, props["state-job"]["data"]["id"])
    assert service.zoo.has_checkpoint("mnist", "mlp-12-tanh")

    assert git("status", "--porcelain", "--ignored", cwd=clone) == ""  # nothing changed, nothing added
    written = {p.name for p in settings.model_dir.iterdir()}
    assert {"mnist-linear.pt", "mnist-mlp-12-tanh.pt", "jobs", "maps"} <= written
    assert service.zoo.load("mnist", "linear").id != shipped["checkpoint"]  # watched, trained again: the user's
