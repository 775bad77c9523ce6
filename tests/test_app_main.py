"""Starting the dashboard: flags, the first-start warm-up, the WSGI entry, and a real `python -m app`."""
from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from flask import Flask

from app.__main__ import parse_args, warm_default
from app.images import png_data_uri, to_display
from app.main import create_app, warm
from app.service import _thumbnails
from models.train import TrainConfig
from models.zoo import Zoo
from tests.conftest import free_port, quick_trained, real_data_dir

ROOT = Path(__file__).resolve().parent.parent


def test_flags_and_defaults(capsys):
    args = parse_args([])
    assert (args.host, args.port, args.debug, args.offline) == ("127.0.0.1", 8050, False, False)
    args = parse_args(["--host", "0.0.0.0", "--port", "9000", "--offline", "--debug", "--data-dir", "/d"])
    assert (args.host, args.port, args.offline, args.debug, args.data_dir) == ("0.0.0.0", 9000, True, True, "/d")
    for bad in (["--port", "0"], ["--port", "http"], ["--colour"]):
        with pytest.raises(SystemExit):
            parse_args(bad)
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "error" in err


def test_first_start_trains_the_default_pair(synth_settings, monkeypatch, caplog):
    monkeypatch.setattr("models.zoo.default_config", lambda family, arch, dataset=None: TrainConfig(epochs=1, batch_size=32))
    zoo = Zoo(synth_settings)
    assert not zoo.has_checkpoint("mnist", "linear")
    with caplog.at_level("INFO", logger="lookinside"):
        warm_default(zoo)
    assert zoo.has_checkpoint("mnist", "linear")
    assert any("mnist/linear ready" in r.message for r in caplog.records)


def test_first_start_without_data_warns_and_goes_on(tmp_path, caplog):
    from models.config import Settings
    zoo = Zoo(Settings(data_dir=tmp_path / "empty", model_dir=tmp_path / "m", offline=True))
    with caplog.at_level("WARNING", logger="lookinside"):
        warm_default(zoo)  # must not raise: the page shows the message
    assert any("MNIST data is not available" in r.message for r in caplog.records)


def test_wsgi_entry_is_a_flask_app(tmp_path, monkeypatch):
    monkeypatch.setenv("LOOKINSIDE_MODEL_DIR", str(tmp_path))
    monkeypatch.setenv("LOOKINSIDE_JOBS_DIR", str(tmp_path / "jobs"))
    import app
    app._default_app.cache_clear()
    app._served_app.cache_clear()
    try:
        assert isinstance(app.server, Flask)
        response = app.server.test_client().get("/")
        assert response.status_code == 200 and b"Looking Inside" in response.data
        # Each worker warms itself up in the background: nothing to load here; it ends by freezing.
        for thread in [t for t in threading.enumerate() if t.name == "warm"]:
            thread.join(timeout=60)
        assert gc.get_freeze_count() > 0
    finally:
        app._default_app.cache_clear()
        app._served_app.cache_clear()
        gc.unfreeze()


def test_warm_up_loads_draws_and_freezes(tmp_path):
    with quick_trained(tmp_path, [("mnist", "linear"), ("mnist", "mlp")]) as (settings, _):
        dash_app = create_app(settings)
        service = dash_app.lookinside_service
        try:
            warm(dash_app)
            thumbs = _thumbnails(service.local, "mnist")
            assert thumbs.encoded() == len(thumbs.pngs) > 0
            assert _thumbnails(service.local, "mnist").uri(3) == png_data_uri(to_display(thumbs.images[3].numpy()))
            drawn = {(key[1], key[3]) for key in service.cache.entries}
            assert {("linear", "heatmap"), ("mlp", "heatmap"), ("mlp", "weight-images"), ("mlp", "bars")} <= drawn
            assert gc.get_freeze_count() > 0
        finally:
            gc.unfreeze()


def test_python_m_app_serves_the_page_on_real_data(tmp_path):
    data = real_data_dir()
    port = free_port()
    env = {**os.environ, "LOOKINSIDE_JOBS_DIR": str(tmp_path / "jobs"), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "app", "--port", str(port), "--offline", "--data-dir", str(data),
                             "--model-dir", str(tmp_path / "models")], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 180
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as r:
                    assert r.status == 200 and b"Looking Inside" in r.read()
                    break
            except OSError:
                assert proc.poll() is None, proc.stdout.read()
                time.sleep(0.5)
        else:
            pytest.fail("the dashboard did not answer within 180 s")
    finally:
        proc.send_signal(signal.SIGINT)
        output = proc.communicate(timeout=30)[0]
    assert f"running at http://127.0.0.1:{port}" in output
    # Ctrl+C right after the first page, while the warm-up may still run: a clean stop, no traceback or abort.
    assert proc.returncode == 0 and "Traceback" not in output and "terminate called" not in output, output[-500:]
    assert (tmp_path / "models" / "mnist-linear.pt").exists()  # trained on first start
