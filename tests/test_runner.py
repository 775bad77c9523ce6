"""app/runner.py, app/tasks.py and app/progress.py: a queued job is looked up by its mode in the one registry,
run with progress into the queue, and ended with one sentence however it goes; every card reads its progress
the same way."""
from __future__ import annotations

import threading
from types import SimpleNamespace

import numpy as np
import pytest

from app import background, progress, runner, tasks, training
from app.jobs import Queue, Target
from app.representations import result_path
from models import datasets, layers
from models.config import TrainConfig
from models.zoo import Zoo

def settings_of(settings) -> dict:
    return {"data_dir": str(settings.data_dir), "model_dir": str(settings.model_dir), "shipped_dir": None,
            "offline": True, "device": "cpu"}


def test_every_mode_is_registered_once_with_its_work():
    assert set(tasks.MODES) == {"train", "retrain", "run", "ladder", "features", "map", "off", "unit",
                                "influence", "fool"}
    assert tasks.get("off").run is background.switch_off and tasks.get("ladder").run is training.climb
    assert all(mode.starting for mode in tasks.MODES.values())
    with pytest.raises(Exception, match="does not run 'mine' jobs"):
        tasks.get("mine")


def test_a_target_is_typed_and_its_text_round_trips():
    for target in (Target("mlp"), Target("cnn", "0123456789abcdef", "pooled"), Target("mlp", "ab", "0_3")):
        assert Target.parse(target.text()) == target
    assert Target("cnn", "0123456789abcdef").checkpoint == "0123456789ab"  # twelve characters are its name
    assert Target("mlp").text() == "mlp"  # the train modes' text is the network id, as queued before
    with pytest.raises(ValueError):
        Target("m|lp")


@pytest.fixture
def trained(mnist_only, tmp_path):
    settings, _ = mnist_only
    zoo = Zoo(settings)
    zoo.train("mnist", "mlp", TrainConfig(epochs=1, batch_size=32, arch_args={"hidden": (6,)}))
    queue = Queue(tmp_path / "jobs", launch=lambda q, job: None)
    return settings, zoo, queue


def test_a_switch_off_job_writes_what_the_page_reads_and_reports_progress(trained):
    settings, zoo, queue = trained
    ckpt = zoo.load("mnist", "mlp")
    job, _ = queue.submit("mnist", background.target(ckpt, "1_4"), "off", settings_of(settings), visitor="v")
    reading = progress.read(SimpleNamespace(queue=queue), job.handle(), ("off",))
    assert reading.active and reading.label == tasks.get("off").starting  # claimed, nothing reported yet
    assert progress.read(SimpleNamespace(queue=queue), job.handle(), ("map",)).job is None  # another card's
    runner.run(queue, job.id)
    done = queue.get(job.id)
    assert done.state == "done" and done.result["detail"] == "1_4" and done.progress["label"].startswith(
        "Units switched off:")
    test = datasets.load("mnist", False, settings)
    saved = np.load(result_path(settings.model_dir, "mnist", "mlp", ckpt.id, "off", "1_4"))
    np.testing.assert_allclose(saved, layers.probs_without(ckpt.model, test.images, ckpt.normalization, [1, 4]),
                               rtol=1e-5, atol=1e-6)
    reading = progress.read(SimpleNamespace(queue=queue), job.handle(), ("off",))
    assert reading.done and not reading.active and progress.bar(reading)[-1] == job.id


def test_a_job_ends_in_one_sentence_however_it_goes(trained, caplog):
    settings, zoo, queue = trained
    ckpt = zoo.load("mnist", "mlp")
    stale, _ = queue.submit("mnist", Target("mlp", "000000000000", "1"), "off", settings_of(settings), visitor="a")
    runner.run(queue, stale.id)
    assert queue.get(stale.id).state == "failed"
    assert queue.get(stale.id).message == "The network was retrained since this was asked for; ask again."
    forged, _ = queue.submit("mnist", background.target(ckpt, "x_1"), "off", settings_of(settings), visitor="b")
    runner.run(queue, forged.id)
    assert queue.get(forged.id).message == "No units to switch off."
    unknown, _ = queue.submit("mnist", Target("mlp"), "mine", settings_of(settings), visitor="c")
    runner.run(queue, unknown.id)
    assert queue.get(unknown.id).state == "failed" and "does not run 'mine' jobs" in queue.get(unknown.id).message


def test_a_bug_is_logged_and_told_in_a_sentence_and_a_cancel_stops(trained, monkeypatch, caplog):
    settings, zoo, queue = trained

    def broken(work, job):
        raise KeyError("a bug")
    monkeypatch.setitem(tasks.MODES, "broken", tasks.Mode("broken", broken, "Starting…"))
    job, _ = queue.submit("mnist", Target("mlp"), "broken", settings_of(settings), visitor="d")
    with caplog.at_level("ERROR", logger="lookinside"):
        runner.run(queue, job.id)
    assert queue.get(job.id).message == "Training failed on the server; the error was logged."
    assert any("KeyError" in (r.exc_text or "") or r.exc_info for r in caplog.records)

    started = threading.Event()

    def slow(work, job):
        started.set()
        for _ in range(200):
            work.report({"step": 0, "total": 1, "label": "working"})
            if work.cancel.is_set():
                from models.errors import TrainingCancelled
                raise TrainingCancelled("stopped")
            threading.Event().wait(0.02)
        return {}
    monkeypatch.setitem(tasks.MODES, "slow", tasks.Mode("slow", slow, "Starting…"))
    job, _ = queue.submit("mnist", Target("mlp"), "slow", settings_of(settings), visitor="e")
    worker = threading.Thread(target=runner.run, args=(queue, job.id))
    worker.start()
    assert started.wait(10)
    queue.cancel(job.id)
    worker.join(10)
    assert queue.get(job.id).state == "cancelled" and queue.get(job.id).message == "Training was stopped."


def test_a_dataset_that_cannot_be_downloaded_is_one_state_everywhere(mnist_only, tmp_path, monkeypatch):
    """KMNIST missing, downloads allowed but failing: once its job has failed, resolve and the dropdown say the
    job's sentence, not "will be downloaded first" (and the header "training…") beside a red banner."""
    from torchvision import datasets as tvd

    from app.service import Service
    from app.state import ERROR, UNTRAINED
    from models.config import Settings
    settings_offline, _ = mnist_only
    monkeypatch.setattr(tvd.KMNIST, "mirrors", ["http://127.0.0.1:9/"])  # nothing listens there
    settings = Settings(data_dir=settings_offline.data_dir, model_dir=settings_offline.model_dir, offline=False)
    queue = Queue(tmp_path / "jobs2", launch=lambda q, job: None)
    service = Service(settings, queue=queue)
    assert service.resolve("kmnist", "linear")["status"] == UNTRAINED
    assert {o["value"]: o for o in service.dataset_options()}["kmnist"]["label"] == "KMNIST (downloaded on first use)"
    job = service.request_training("kmnist", "linear", "v", admin=False)
    runner.run(queue, job["id"])
    failed = queue.get(job["id"])
    assert failed.state == "failed" and "KMNIST is not available on this server" in failed.message
    after = service.resolve("kmnist", "linear")
    assert after["status"] == ERROR and after["message"] == failed.message
    option = {o["value"]: o for o in service.dataset_options()}["kmnist"]
    assert option["disabled"] is True and option["label"] == "KMNIST (not available here)"
    assert service.resolve("mnist", "linear")["status"] != ERROR  # the others work
    assert datasets.failed_download(settings.model_dir, "kmnist", within=-1) is None  # it stands ten minutes
