"""Pruning visitors' networks: least recently opened first, within a count and a disk bound, with every
file a network leaves; and timelines that stay bounded and load as they always did."""
from __future__ import annotations

import logging
import math
import os
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from models import datasets, kinds, ladder, timeline, zoo as zoo_module
from models.config import Settings
from models.zoo import RECENT, Zoo, disk_bound, shape_of
from tests.conftest import quick_shape_config

ROOT = Path(__file__).resolve().parent.parent
LONG_AGO = 1_000_000  # seconds since the epoch: a network trained (or opened) long before any test runs


def _zoo(tmp_path) -> Zoo:
    zoo = Zoo(Settings(data_dir=tmp_path / "data", model_dir=tmp_path / "models"))
    zoo.settings.model_dir.mkdir()
    return zoo


def _fake(zoo: Zoo, network: str, age: int, nbytes: int = 1, dataset: str = "mnist") -> Path:
    """A network's checkpoint, timeline and evaluation caches (`nbytes` in all), trained `age` s after LONG_AGO."""
    path = zoo.checkpoint_path(dataset, network)
    files = [path, path.with_suffix(".timeline.pt"), path.with_suffix(".eval.npz"),
             zoo.settings.model_dir / f"{dataset}-{network}@10.eval.npz"]
    for i, p in enumerate(files):
        p.write_bytes(b"x" * (nbytes // len(files) + (i < nbytes % len(files))))
    os.utime(path, (LONG_AGO + age, LONG_AGO + age))
    return path


def _opened(zoo: Zoo, network: str, seconds_ago: float, dataset: str = "mnist") -> None:
    """As if a visitor had opened the network `seconds_ago` (the marker mark_used touches)."""
    marker = zoo.checkpoint_path(dataset, network).with_suffix(".used")
    marker.touch()
    when = time.time() - seconds_ago
    os.utime(marker, (when, when))


def _left(zoo: Zoo, network: str, dataset: str = "mnist") -> list[str]:
    return sorted(p.name for p in zoo.settings.model_dir.iterdir()
                  if p.name.startswith(f"{dataset}-{network}.") or p.name.startswith(f"{dataset}-{network}@"))


def test_pruning_removes_the_least_recently_opened_not_the_oldest_trained(tmp_path, caplog):
    zoo = _zoo(tmp_path)
    built = ["mlp-1-sigmoid", "mlp-7-tanh", "mlp-9-relu", "mlp-3-2-gelu"]  # oldest trained first
    for age, network in enumerate(built):
        _fake(zoo, network, age)
    _opened(zoo, "mlp-1-sigmoid", 2 * RECENT)  # the oldest, opened since the others were trained
    with caplog.at_level(logging.INFO, logger="lookinside"):
        assert zoo.prune_shapes("mnist", keep=2) == ["mlp-7-tanh", "mlp-9-relu"]
    assert zoo.shapes("mnist") == ["mlp-1-sigmoid", "mlp-3-2-gelu"]
    freed = [r.getMessage() for r in caplog.records if "mlp-7-tanh" in r.getMessage()]
    assert freed == ["removed mnist/mlp-7-tanh, the least recently used (more than 2 built for mnist): "
                     "0.0 MB freed"]


def test_a_network_opened_in_the_last_hour_stays_beyond_the_bound_and_that_is_logged_once(tmp_path, caplog):
    zoo = _zoo(tmp_path)
    for age, network in enumerate(["mlp-1-sigmoid", "mlp-7-tanh", "mlp-9-relu"]):
        _fake(zoo, network, age)
    _opened(zoo, "mlp-1-sigmoid", RECENT - 60)
    _opened(zoo, "mlp-9-relu", 60)
    with caplog.at_level(logging.INFO, logger="lookinside"):
        assert zoo.prune_shapes("mnist", keep=1) == ["mlp-7-tanh"]
    assert zoo.shapes("mnist") == ["mlp-1-sigmoid", "mlp-9-relu"]  # two, though the bound is one
    kept = [r.getMessage() for r in caplog.records if r.getMessage().startswith("kept")]
    assert len(kept) == 1 and kept[0].startswith("kept 2 networks of mnist although more than 1 built")
    # A run opened a minute ago stays too; an old one goes.
    _fake(zoo, "linear~run1", 0)
    _fake(zoo, "linear~run2", 1)
    _opened(zoo, "linear~run1", 60)
    assert zoo.prune_runs("mnist", keep=0) == ["linear~run2"] and zoo.runs("mnist") == ["linear~run1"]


def test_mark_used_touches_a_marker_at_most_once_a_minute_and_leaves_the_checkpoint_alone(tmp_path, monkeypatch):
    monkeypatch.setattr(zoo_module, "USE_EVERY", 10 ** 12)  # one "minute" for the whole test
    zoo = _zoo(tmp_path)
    path = _fake(zoo, "mlp-7-tanh~run3", 0)
    _fake(zoo, "linear", 0)
    before = path.stat().st_mtime_ns
    zoo.mark_used("mnist", "mlp-7-tanh~run3")
    marker = path.with_suffix(".used")
    assert abs(marker.stat().st_mtime - time.time()) < 5 and path.stat().st_mtime_ns == before
    assert zoo.last_used("mnist", "mlp-7-tanh~run3") == marker.stat().st_mtime_ns
    os.utime(marker, (LONG_AGO - 100, LONG_AGO - 100))
    zoo.mark_used("mnist", "mlp-7-tanh~run3")  # within the minute: not touched again
    assert marker.stat().st_mtime == LONG_AGO - 100
    assert zoo.last_used("mnist", "mlp-7-tanh~run3") == before  # the later of the marker and the checkpoint
    # Served networks are never pruned and get no marker; nonsense is ignored.
    zoo.mark_used("mnist", "linear")
    zoo.mark_used("nowhere", "mlp-7-tanh")
    zoo.mark_used("mnist", ["not", "an", "id"])
    assert sorted(p.suffix for p in zoo.settings.model_dir.iterdir() if p.suffix == ".used") == [".used"]


def test_mark_used_never_raises_where_it_cannot_write_and_says_so_once(tmp_path, caplog):
    zoo = Zoo(Settings(data_dir=tmp_path / "data", model_dir=tmp_path / "gone"))  # no such folder
    with caplog.at_level(logging.WARNING, logger="lookinside"):
        zoo.mark_used("mnist", "mlp-7-tanh")
        zoo.mark_used("mnist", "mlp-9-relu")
    assert [r.getMessage().split(" (")[0] for r in caplog.records] == [
        f"cannot record which networks visitors open in {tmp_path / 'gone'}"]


def test_the_disk_bound_removes_the_least_recently_used_until_under_it(tmp_path, caplog):
    zoo = _zoo(tmp_path)
    mb = 2 ** 20
    _fake(zoo, "mlp-3-2-gelu", 0, 4 * mb)
    _fake(zoo, "linear~run1", 1, 3 * mb)
    _fake(zoo, "mlp-7-tanh", 2, 2 * mb)
    _fake(zoo, "mlp-9-relu~run1", 3, 1 * mb)
    _fake(zoo, "mlp-9-relu", 4, 5 * mb)
    _opened(zoo, "mlp-9-relu", 60)  # the largest, opened a minute ago: stays, and counts
    _fake(zoo, ladder.networks()[0], 0, 20 * mb)  # the ladder's and pinned ones neither count nor go
    _fake(zoo, "linear~run7", 0, 20 * mb)
    zoo.checkpoint_path("mnist", "linear~run7").with_suffix(".pin").touch()
    assert zoo.disk_use("mnist", "mlp-3-2-gelu") == 4 * mb
    with caplog.at_level(logging.INFO, logger="lookinside"):
        removed = zoo.prune_disk("mnist", 8 * mb, protect=ladder.networks())
    assert removed == ["mlp-3-2-gelu", "linear~run1"]  # 15 MB, then 11, then 8: under the bound
    assert zoo.shapes("mnist") == [ladder.networks()[0], "mlp-7-tanh", "mlp-9-relu"]
    assert zoo.runs("mnist") == ["linear~run7", "mlp-9-relu~run1"]
    logged = [r.getMessage() for r in caplog.records if r.getMessage().startswith("removed")]
    why = "the least recently used (over 8.0 MB on disk for mnist)"
    assert logged == [f"removed mnist/mlp-3-2-gelu, {why}: 4.0 MB freed",
                      f"removed mnist/linear~run1, {why}: 3.0 MB freed"]
    # Below what the recently opened network takes alone, only it stays.
    assert zoo.prune_disk("mnist", 1, protect=ladder.networks()) == ["mlp-7-tanh", "mlp-9-relu~run1"]
    assert _left(zoo, "mlp-9-relu")


@pytest.mark.parametrize("text, expected", [
    (None, 2 * 2 ** 30), ("", 2 * 2 ** 30), ("123456", 123456), ("500M", 500 * 2 ** 20), ("2G", 2 * 2 ** 30),
    ("1.5gb", 3 * 2 ** 29), ("64 KiB", 64 * 2 ** 10)])
def test_the_disk_bound_reads_bytes_or_a_size_with_a_unit(text, expected):
    assert disk_bound(text) == expected


def test_a_bad_disk_bound_warns_once_and_uses_the_default(caplog):
    with caplog.at_level(logging.WARNING, logger="lookinside"):
        assert disk_bound("lots-of-bytes") == disk_bound("lots-of-bytes") == disk_bound("0M") == zoo_module.MAX_DISK
    assert [r.getMessage()[:39] for r in caplog.records] == ["LOOKINSIDE_MAX_DISK='lots-of-bytes' is ",
                                                             "LOOKINSIDE_MAX_DISK='0M' is not a size "]


def test_lock_and_marker_files_go_with_the_network_unless_it_is_being_trained(tmp_path):
    zoo = _zoo(tmp_path)
    for age, network in enumerate(["mlp-1-sigmoid", "mlp-7-tanh"]):
        _fake(zoo, network, age)
        _opened(zoo, network, 2 * RECENT)
        with zoo._lock("mnist", network):  # trained once: its lock file stays behind
            pass
    assert _left(zoo, "mlp-1-sigmoid") == ["mnist-mlp-1-sigmoid.eval.npz", "mnist-mlp-1-sigmoid.lock",
                                           "mnist-mlp-1-sigmoid.pt", "mnist-mlp-1-sigmoid.timeline.pt",
                                           "mnist-mlp-1-sigmoid.used", "mnist-mlp-1-sigmoid@10.eval.npz"]
    with zoo._lock("mnist", "mlp-1-sigmoid"):  # being trained (flock conflicts between open files, even in one process)
        assert zoo.prune_shapes("mnist", keep=0) == ["mlp-7-tanh"]
    assert _left(zoo, "mlp-7-tanh") == [] and len(_left(zoo, "mlp-1-sigmoid")) == 6
    assert zoo.prune_shapes("mnist", keep=0) == ["mlp-1-sigmoid"]
    assert sorted(p.name for p in zoo.settings.model_dir.iterdir()) == []


def test_a_process_waiting_on_a_lock_file_a_prune_deletes_locks_the_new_one(tmp_path):
    zoo = _zoo(tmp_path)
    path = zoo.settings.model_dir / "mnist-mlp-7-tanh.lock"
    waiting, inside, leave = threading.Event(), threading.Event(), threading.Event()

    def train():
        waiting.set()
        with zoo._lock("mnist", "mlp-7-tanh"):
            inside.set()
            leave.wait(10)

    with zoo_module._flock(path) as held:  # the prune's hold, while another "process" opens the same file
        assert held
        worker = threading.Thread(target=train)
        worker.start()
        waiting.wait(10)
        time.sleep(0.3)
        assert not inside.is_set()
        path.unlink()
    assert inside.wait(10)
    # It holds the file now at the path, so a third party sees the lock taken, not a fresh free file.
    with zoo_module._flock(path, wait=False) as third:
        assert path.exists() and third is False
    leave.set()
    worker.join(10)


def test_a_timeline_keeps_the_snapshots_within_its_bound_evenly_spread():
    steps = [0, 10, 25, 50, 100, 200, 391, 500, 782, 1000, 1173, 1564, 1955, 2346, 2737, 3128, 3519, 3910]
    assert timeline.thin(steps, 10 * 2 ** 20) == [0, 50, 391, 1173, 2346, 3519, 3910]  # 3×1,024 on CIFAR-10
    assert timeline.thin(steps, 2 ** 20) == steps  # the ladder's widest keeps all
    assert timeline.thin(steps, 10, max_bytes=5) == [0, 3910]  # the untrained network at least
    assert timeline.thin(steps, 10, max_bytes=20) == [0, 3519, 3910]
    assert timeline.thin([0], 10, max_bytes=1) == [0] and timeline.thin([], 10) == []


def test_a_built_network_stores_a_thinned_half_precision_timeline_that_loads_back_as_float32(synth_settings,
                                                                                              monkeypatch):
    monkeypatch.setattr("models.zoo.shape_config", lambda *a: replace(quick_shape_config(*a), epochs=5))
    zoo = Zoo(synth_settings)
    one = timeline.nbytes(timeline.capture(kinds.build("mlp", (1, 28, 28), 10, **shape_of("mlp-7-tanh").args), 0, 1))
    monkeypatch.setattr(timeline, "MAX_BYTES", 3 * one + one // 2)  # room for three snapshots
    watched = []
    ckpt = zoo.train("mnist", "mlp-7-tanh", on_snapshot=lambda snap, model, norm: watched.append(snap.step))
    steps = timeline.schedule(math.ceil(len(datasets.load("mnist", True, synth_settings)) / 32), 5)
    snaps = zoo.timeline(ckpt)
    assert watched == steps  # the live view saw every snapshot
    before = steps[:-1]  # the last is the checkpoint itself
    assert len(before) > 3
    assert [s.step for s in snaps] == [before[0], before[round((len(before) - 1) / 2)], before[-1]]
    assert len(zoo.timeline_labels(ckpt)) == 4
    # Stored at half precision; a snapshot's network is float32 again, holding exactly the stored values.
    on_disk = torch.load(zoo.timeline_path("mnist", "mlp-7-tanh"), weights_only=True)
    stored = on_disk["snapshots"][1]["state_dict"]
    assert {t.dtype for t in stored.values()} == {torch.float16}
    rebuilt = zoo.snapshot(ckpt, 1).model.state_dict()
    assert {t.dtype for t in rebuilt.values()} == {torch.float32}
    for name, value in stored.items():
        assert torch.equal(rebuilt[name].cpu(), value.float())
    assert {t.dtype for t in ckpt.model.state_dict().values()} == {torch.float32}  # the final position


def test_the_shipped_timelines_load_unchanged():
    zoo = Zoo(Settings(model_dir=ROOT / "checkpoints"))
    shipped = sorted((ROOT / "checkpoints").glob("*.timeline.pt"))
    assert len(shipped) >= 6
    for path in shipped:
        dataset, network = next((d, path.name[len(d) + 1:-len(".timeline.pt")]) for d in datasets.DATASETS
                                if path.name.startswith(f"{d}-"))
        ckpt = zoo.load(dataset, network)
        snaps = zoo.timeline(ckpt)
        assert snaps and zoo.timeline_problem(ckpt) is None, path.name
        assert snaps[0].label.startswith("untrained") and len(zoo.timeline_labels(ckpt)) == len(snaps) + 1
        first = zoo.snapshot(ckpt, 0).model
        assert all(t.dtype == torch.float32 for t in first.state_dict().values() if t.is_floating_point())
        for name, value in snaps[0].state_dict.items():
            assert torch.equal(first.state_dict()[name].cpu(), value.to(first.state_dict()[name].dtype)), name
