"""models/zoo.py's two folders: the shipped checkpoints are read and never written; whatever the app trains,
evaluates or replaces goes to the model folder, which wins from then on. And where Settings puts them."""
from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from app.jobs import default_folder
from models import config
from models.config import Settings
from models.zoo import Zoo
from tests.conftest import quick_trained


def _fingerprint(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_without_a_named_folder_the_app_writes_to_the_users_and_reads_the_shipped(monkeypatch, tmp_path):
    monkeypatch.delenv(config.MODEL_DIR_ENV, raising=False)
    monkeypatch.delenv(config.SHIPPED_DIR_ENV, raising=False)
    monkeypatch.delenv("LOOKINSIDE_JOBS_DIR", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "share"))
    found = Settings.resolve(offline=True)
    assert found.model_dir == (tmp_path / "share" / "lookinside" / "models").resolve()
    assert found.shipped_dir == config.SHIPPED_DIR.resolve()
    assert default_folder(found.model_dir) == found.model_dir / "jobs"  # no queue shared with other instances
    named = Settings.resolve(model_dir=tmp_path / "m", offline=True)  # a folder named is used alone
    assert named.model_dir == (tmp_path / "m").resolve() and named.shipped_dir is None
    monkeypatch.setenv(config.SHIPPED_DIR_ENV, str(tmp_path / "s"))
    assert Settings.resolve(model_dir=tmp_path / "m", offline=True).shipped_dir == (tmp_path / "s").resolve()
    assert Settings.resolve(model_dir=tmp_path / "s", offline=True).shipped_dir is None  # one folder, not two
    monkeypatch.setenv("LOOKINSIDE_JOBS_DIR", str(tmp_path / "q"))
    assert default_folder(found.model_dir) == tmp_path / "q"


def test_the_shipped_folder_is_read_and_never_written(tmp_path):
    with quick_trained(tmp_path / "first", [("mnist", "linear")]) as (trained, zoo):
        shipped = tmp_path / "shipped"
        shipped.mkdir()
        for name in ("mnist-linear.pt", "mnist-linear.timeline.pt"):  # as a clone has them: no caches
            shutil.copy2(trained.model_dir / name, shipped / name)
        before = _fingerprint(shipped)
        original = zoo.load("mnist", "linear")
        layered = Zoo(Settings(data_dir=trained.data_dir, model_dir=tmp_path / "user", offline=True,
                               shipped_dir=shipped))
        assert layered.has_checkpoint("mnist", "linear") and not layered.checkpoint_path("mnist", "linear").exists()
        ckpt = layered.load("mnist", "linear")
        assert ckpt.id == original.id and layered.timeline(ckpt)  # its timeline, read beside it
        assert layered.evaluation("mnist", "linear").checkpoint_id == ckpt.id
        assert (tmp_path / "user" / "mnist-linear.eval.npz").is_file()  # the cache is the model folder's

        layered.retrain("mnist", "linear")  # "Watch it train" by the admin: it replaces the network everyone sees
        replaced = layered.load("mnist", "linear")
        assert replaced.id != ckpt.id and layered.stored_path("mnist", "linear").parent == tmp_path / "user"
        assert [s.step for s in layered.timeline(replaced)] and layered.evaluation("mnist", "linear").checkpoint_id \
            == replaced.id
        assert _fingerprint(shipped) == before  # nothing written, replaced or added there


def test_a_snapshot_knows_its_step(tmp_path):
    """models/checkpoint.py's codec: a snapshot carries its step, its id and files say it one way."""
    from models import checkpoint
    with quick_trained(tmp_path, [("mnist", "linear")]) as (settings, zoo):
        ckpt = zoo.load("mnist", "linear")
        first = zoo.timeline(ckpt)[0]
        snap = zoo.snapshot(ckpt, 0)
        assert not ckpt.is_snapshot and ckpt.step is None
        assert snap.is_snapshot and snap.step == first.step and checkpoint.parse_id(snap.id) == (ckpt.id, first.step)
        zoo.evaluate(snap)
        assert (settings.model_dir / f"mnist-linear@{first.step}.eval.npz").is_file()
    assert checkpoint.parse_id(checkpoint.snapshot_id("abc", 7)) == ("abc", 7)
    assert checkpoint.parse_id("abc") == ("abc", None) and checkpoint.parse_id("abc@x") == ("abc@x", None)
