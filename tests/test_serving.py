"""Serving for real: gunicorn workers agree, one training run per pair across processes, crash-safe saves."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from app.state import screen
from bench.serving import cell_click_body
from models.train import TrainConfig
from models.zoo import Zoo
from tests.conftest import free_port, wait_for_http

ROOT = Path(__file__).resolve().parent.parent


def _post(port: int, body: dict) -> dict:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/_dash-update-component", json.dumps(body).encode(),
                                 {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def _resolve(port: int) -> dict:
    body = {"output": "state-resolve-answer.data", "outputs": {"id": "state-resolve-answer", "property": "data"},
            "inputs": [{"id": "dataset-dropdown", "property": "value", "value": "mnist"},
                       {"id": "model-dropdown", "property": "value", "value": "linear"},
                       {"id": "watch-button", "property": "n_clicks", "value": 0},
                       {"id": "state-resolve-kick", "property": "data", "value": None},
                       {"id": "train-it", "property": "n_clicks", "value": 0}],
            "state": [{"id": "state-admin-token", "property": "data", "value": None}],
            "changedPropIds": ["dataset-dropdown.value"]}
    return _post(port, body)["response"]["state-resolve-answer"]["data"]["resolved"]


def _samples(port: int, resolved: dict) -> dict:
    body = cell_click_body(screen(resolved, None, "mnist", "linear"), {"actual": 3, "predicted": 3})
    return _post(port, body)["response"]


@pytest.fixture
def gunicorn(mnist_only, tmp_path):
    settings, env = mnist_only
    Zoo(settings).train("mnist", "linear", TrainConfig(epochs=2, batch_size=32))
    port = free_port()
    log = tmp_path / "access.log"
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "--workers", "3", "--bind", f"127.0.0.1:{port}",
                             "--access-logfile", str(log), "--access-logformat", "%(p)s %(r)s", "app:server"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    wait_for_http(f"http://127.0.0.1:{port}/", proc)
    yield port, settings, log
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)


def test_three_gunicorn_workers_give_the_same_answers(gunicorn):
    port, settings, log = gunicorn
    def pids():
        return {line.split()[0] for line in log.read_text().splitlines() if "_dash-update-component" in line}

    # Concurrent batches until every worker has answered (they finish booting at different times):
    # a sync worker serves one request at a time, so the others must take some.
    states, pages, deadline = [], [], time.time() + 90
    with ThreadPoolExecutor(6) as pool:
        while len(pids()) < 3 and time.time() < deadline:
            states += pool.map(lambda _: _resolve(port), range(12))
            pages += pool.map(lambda _: _samples(port, states[0]), range(12))
    assert len(pids()) >= 2, "all requests went to one worker; the test proves nothing"
    assert states[0]["status"] == "ready" and all(s == states[0] for s in states)
    assert all(p == pages[0] for p in pages)
    # A new checkpoint (trained by another process) is picked up by every worker.
    new = Zoo(settings).train("mnist", "linear", TrainConfig(epochs=1, batch_size=64, seed=3))
    assert {_resolve(port)["checkpoint"] for _ in range(30)} == {new.id}


ENSURE = """
import os, sys, time
from models.config import Settings
from models.zoo import Zoo
zoo = Zoo(Settings.resolve(offline=True))
print("ready", flush=True)
while not os.path.exists(sys.argv[1]):  # a start line, so both ask at the same moment
    time.sleep(0.001)
print(zoo.ensure("mnist", "mlp").id, flush=True)
"""


def test_two_processes_asking_at_once_train_once(mnist_only, tmp_path):
    settings, env = mnist_only
    go = tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-c", ENSURE, str(go)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for p in procs:
        assert p.stdout.readline().strip() == "ready"
    go.touch()
    ids = [p.communicate(timeout=300)[0].strip() for p in procs]
    # Without the lock both would miss the checkpoint, train, and each report its own id.
    assert ids[0] == ids[1] and ids[0]


SAVE_FOREVER = """
import sys, torch
from models import checkpoint, kinds
from models.train import Normalization, TrainConfig
path = sys.argv[1]
model = kinds.build("cnn", (3, 32, 32), 10, widths=(64, 128, 256, 512))  # ~18 MB: saving takes a while
norm = Normalization((0.5,) * 3, (0.25,) * 3)
cfg = TrainConfig(arch_args={"widths": (64, 128, 256, 512)})
n = 0
while True:
    checkpoint.save(__import__("pathlib").Path(path), "cnn", "cifar10", [str(i) for i in range(10)], model, norm,
                    cfg, {"round": n})
    print(n, flush=True)
    n += 1
"""


def test_sigkill_in_the_middle_of_saving_leaves_the_previous_checkpoint(tmp_path):
    from models import checkpoint
    path = tmp_path / "cifar10-cnn.pt"
    proc = subprocess.Popen([sys.executable, "-c", SAVE_FOREVER, str(path)], cwd=ROOT, stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout.readline().strip() == "0"  # one complete save exists
        deadline = time.time() + 60
        while not list(tmp_path.glob("*.tmp")):  # wait until a later save is under way
            assert time.time() < deadline, "never caught a save in progress"
            time.sleep(0.001)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert list(tmp_path.glob("*.tmp")), "the kill did not land mid-save"
    loaded = checkpoint.load(path)
    assert loaded.arch == "cnn" and isinstance(loaded.metrics["round"], int)


def test_corrupt_checkpoint_is_logged_retrained_and_served(mnist_only, caplog):
    from app import runner
    from tests.test_app_callbacks import triggered
    from app.jobs import Queue
    from app.main import create_app
    settings, _ = mnist_only
    zoo = Zoo(settings)
    zoo.train("mnist", "linear", TrainConfig(epochs=1, batch_size=32))
    zoo.checkpoint_path("mnist", "linear").write_bytes(b"\x00 half a checkpoint")
    queue = Queue(settings.model_dir.parent / "jobs", launch=lambda q, job: None)
    cb = create_app(settings, queue=queue).lookinside_callbacks
    with caplog.at_level("WARNING", logger="lookinside"):
        state = cb["resolve"]("mnist", "linear")["resolved"]
    # The page says so in a sentence that names no path; the log has the detail.
    assert state["status"] == "untrained" and state["message"] == "its saved file is damaged; train it again"
    assert any("unreadable" in r.message and str(settings.model_dir) in r.message for r in caplog.records)
    caplog.clear()
    request = triggered(cb["resolve"], "train-it.n_clicks", 1, "mnist", "linear", 0, None, None, 1)["job"]
    assert request["mode"] == "train"
    with caplog.at_level("WARNING", logger="lookinside"):
        runner.run(queue, request["id"])  # as the job's own process would
    assert queue.get(request["id"]).state == "done"
    assert any("unreadable" in r.message and "retraining" in r.message for r in caplog.records)
    assert cb["resolve"]("mnist", "linear")["resolved"]["status"] == "ready"


def test_clients_that_hang_up_do_not_take_the_server_down(gunicorn):
    import socket
    port, _, _ = gunicorn
    for i in range(50):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"POST /_dash-update-component HTTP/1.1\r\nHost: x\r\nContent-Length: 9000\r\n\r\n{\"o"
                      if i % 2 else b"GET /_dash-layout HTTP/1.1\r\nHost: x\r\n\r\n")
    assert _resolve(port)["status"] == "ready"


def test_fresh_workers_serve_the_page_scripts_on_their_first_request(mnist_only):
    """A worker's first request may be for a script (a browser fetches them in parallel): it must not fail."""
    import socket
    from app.main import create_app
    settings, env = mnist_only
    index = create_app(settings).server.test_client().get("/").get_data(as_text=True)
    scripts = [p for p in index.split('"') if p.startswith("/_dash-component-suites/")]
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "--workers", "3", "--threads", "4", "--bind",
                             f"127.0.0.1:{port}", "app:server"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        while True:  # wait for the port to open, without sending a request that would warm a worker
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.time() < deadline and proc.poll() is None
                time.sleep(0.1)
        time.sleep(3)  # let every worker finish booting

        def fetch(path):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as r:
                    return r.status
            except urllib.error.HTTPError as e:
                return e.code

        with ThreadPoolExecutor(12) as pool:
            statuses = list(pool.map(fetch, scripts * 2))
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    assert scripts and statuses == [200] * len(statuses)
