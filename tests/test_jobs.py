"""The training queue: its bounds and joins on their own, then real job processes behind gunicorn."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from itsdangerous import Signer

from app.access import SALT, cookie_for
from app.jobs import DIED, Queue, Refused
from app.main import create_app
from app.state import UNTRAINED, screen, state
from bench.serving import cell_click_body
from models.train import TrainConfig
from models.zoo import Zoo
from tests.conftest import free_port, wait_for_http

ROOT = Path(__file__).resolve().parent.parent
JOB_BOUND = 120  # seconds any one job of these tests must finish in (each trains for a few seconds)
SETTINGS = {"data_dir": "/nowhere", "model_dir": "/nowhere", "offline": True, "device": "cpu"}
SECRET = "test-secret-" + "0" * 40  # what the served app signs visitor ids with


def _queue(tmp_path, **kw) -> tuple[Queue, list]:
    started = []
    return Queue(tmp_path / "jobs", launch=lambda q, job: started.append(job.id), **kw), started


def test_requests_for_one_network_join_one_job_and_bounds_refuse_with_a_sentence(tmp_path):
    queue, started = _queue(tmp_path, slots=1, max_waiting=2)
    first, joined = queue.submit("mnist", "linear", "run", SETTINGS, visitor="a", name=lambda taken: "linear~run1")
    assert not joined and first.state == "running" and started == [first.id]
    for visitor in "bcd":  # other visitors asking for the same thing watch the same run
        job, joined = queue.submit("mnist", "linear", "run", SETTINGS, visitor=visitor)
        assert joined and job.id == first.id
    with pytest.raises(Refused, match="You already have a network training"):
        queue.submit("mnist", "mlp", "train", SETTINGS, visitor="a")
    second = queue.submit("mnist", "mlp", "train", SETTINGS, visitor="b")[0]
    third = queue.submit("mnist", "cnn", "train", SETTINGS, visitor="c")[0]
    assert second.state == third.state == "queued" and started == [first.id]  # one slot
    assert queue.ahead_of(third) == 2
    with pytest.raises(Refused, match=r"^The trainer is busy: 3 jobs ahead, try again in a few minutes\.$"):
        queue.submit("cifar10", "cnn", "train", SETTINGS, visitor="e")
    queue.end(first.id, "done", result={})
    queue.pump()
    assert started == [first.id, second.id] and queue.get(third.id).state == "queued"
    assert queue.cancel(third.id) and queue.get(third.id).state == "cancelled"
    # A new run after the first one finished gets the next free id, past those in flight.
    taken = []
    queue.submit("mnist", "linear", "run", SETTINGS, visitor="f", name=lambda t: taken.extend(t) or "linear~run2")
    assert taken == ["mlp"]


def test_a_job_whose_process_died_is_failed_and_its_slot_given_back(tmp_path):
    procs = []

    def launch(queue, job):  # a stand-in runner: holds the job's lock, as app.runner does, then sleeps
        code = ("import sys, time; from pathlib import Path; from app.jobs import Queue\n"
                "q = Queue(Path(sys.argv[1]), launch=lambda *a: None)\n"
                "with q.hold(sys.argv[2]):\n    time.sleep(60)\n")
        procs.append(subprocess.Popen([sys.executable, "-c", code, str(queue.folder), job.id], cwd=ROOT))

    queue = Queue(tmp_path / "jobs", slots=1, launch=launch)
    first = queue.submit("mnist", "linear", "train", SETTINGS, visitor="a")[0]
    second = queue.submit("mnist", "mlp", "train", SETTINGS, visitor="b")[0]
    deadline = time.time() + 30
    while queue.get(first.id).pid is None and time.time() < deadline:
        time.sleep(0.1)
    assert queue.get(first.id).pid == procs[0].pid
    queue.pump()
    assert queue.get(first.id).state == "running" and len(procs) == 1  # alive: nothing changes
    procs[0].send_signal(signal.SIGKILL)
    procs[0].wait()
    queue.pump()
    assert queue.get(first.id).state == "failed" and queue.get(first.id).message == DIED
    assert queue.get(second.id).state == "running" and len(procs) == 2
    procs[1].kill()
    procs[1].wait()


# --- real job processes behind gunicorn ------------------------------------------------------------

def _signed(visitor: str) -> str:
    """The cookie the served app (its secret: SECRET below) gives visitor id `visitor` (32 hex digits)."""
    return cookie_for(Signer(SECRET.encode(), salt=SALT), visitor)


def _post(port: int, body: dict, cookie: str = "", signed: bool = True,
          headers: dict | None = None) -> tuple[int, dict | str]:
    """A callback request as visitor `cookie` (signed by the server's secret unless `signed` is False)."""
    headers = {"Content-Type": "application/json", **(headers or {})}
    if cookie:
        headers["Cookie"] = f"lookinside_visitor={_signed(cookie) if signed else cookie}"
    req = urllib.request.Request(f"http://127.0.0.1:{port}/_dash-update-component", json.dumps(body).encode(), headers)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def _watch(port: int, network: str, visitor: str, token=None, clicks: int = 1):
    """What pressing "Watch it train" sends; returns (status, the job handle or the answer's text)."""
    body = {"output": "state-resolve-answer.data", "outputs": {"id": "state-resolve-answer", "property": "data"},
            "inputs": [{"id": "dataset-dropdown", "property": "value", "value": "mnist"},
                       {"id": "model-dropdown", "property": "value", "value": network},
                       {"id": "watch-button", "property": "n_clicks", "value": clicks},
                       {"id": "state-resolve-kick", "property": "data", "value": None},
                       {"id": "train-it", "property": "n_clicks", "value": 0}],
            "state": [{"id": "state-admin-token", "property": "data", "value": token}],
            "changedPropIds": ["watch-button.n_clicks"]}
    status, reply = _post(port, body, visitor)
    return status, (reply["response"]["state-resolve-answer"]["data"]["job"] if status == 200 else reply)


def _unlock(port: int, token: str, visitor: str):
    body = {"output": "..state-admin-token.data...admin-note.children..",
            "outputs": [{"id": "state-admin-token", "property": "data"}, {"id": "admin-note", "property": "children"}],
            "inputs": [{"id": "admin-input", "property": "value", "value": token}], "state": [],
            "changedPropIds": ["admin-input.value"]}
    status, reply = _post(port, body, visitor)
    return reply["response"] if status == 200 else reply


def _cell_summary(port: int, resolved: dict, cell: int) -> float:
    body = cell_click_body(screen(resolved, None, "mnist", "linear"), {"actual": cell, "predicted": cell})
    start = time.perf_counter()
    status, reply = _post(port, body)
    took = time.perf_counter() - start
    assert status == 200 and isinstance(reply["response"]["state-tiles"]["data"], list), (status, reply)  # its list
    return took


def _wait(queue: Queue, job_id: str, bound: float = JOB_BOUND):
    deadline = time.time() + bound
    while time.time() < deadline:
        job = queue.get(job_id)
        if not job.active:
            return job
        queue.pump()
        time.sleep(0.3)
    pytest.fail(f"job {job_id[:8]} did not finish within {bound} s: {queue.get(job_id)}")


def _zombies(root_pid: int) -> list[int]:
    """Zombie processes among the descendants of root_pid."""
    children: dict[int, list[int]] = {}
    states = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            states[int(entry.name)] = fields[0]
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [root_pid]
    while todo:
        pid = todo.pop()
        for child in children.get(pid, []):
            todo.append(child)
            if states.get(child) == "Z":
                found.append(child)
    return found


@pytest.fixture
def served(mnist_only, tmp_path, request):
    """gunicorn with 3 workers and an admin token, over synthetic MNIST with mnist/linear trained (more
    environment through indirect parametrisation)."""
    settings, env = mnist_only
    Zoo(settings).train("mnist", "linear", TrainConfig(epochs=2, batch_size=32))
    shipped = settings.model_dir / "mnist-linear.pt"
    shipped.chmod(0o644)
    port = free_port()
    env = {**env, "LOOKINSIDE_ADMIN_TOKEN": "s3cret-token", "LOOKINSIDE_TRAIN_QUEUE": "2", "LOOKINSIDE_SECRET": SECRET,
           **getattr(request, "param", {})}
    log = open(tmp_path / "server.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "--workers", "3", "--threads", "4",
                             "--bind", f"127.0.0.1:{port}", "app:server"], cwd=ROOT, env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    wait_for_http(f"http://127.0.0.1:{port}/", proc, timeout=120)
    try:
        # The test looks at the same queue, and moves it on as any web worker would (starting real runners).
        yield port, settings, Queue(Path(env["LOOKINSIDE_JOBS_DIR"])), proc, tmp_path
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        log.close()


def test_ten_watchers_without_the_token_start_one_run_and_the_served_network_stays(served):
    port, settings, queue, proc, tmp_path = served
    shipped = settings.model_dir / "mnist-linear.pt"
    before = shipped.read_bytes()
    with ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(lambda i: _watch(port, "linear", f"{i:032x}"), range(10)))
    assert all(status == 200 for status, _ in answers), answers
    handles = {json.dumps(h, sort_keys=True) for _, h in answers}
    assert len(handles) == 1, handles  # one run, everyone watching it
    handle = answers[0][1]
    assert handle["mode"] == "run" and handle["network"] == "linear~run1"
    job = _wait(queue, handle["id"])
    assert job.state == "done", job.message
    assert shipped.read_bytes() == before
    assert (settings.model_dir / "mnist-linear~run1.pt").is_file()
    assert not _zombies(proc.pid)
    text = (tmp_path / "server.log").read_text()
    assert f"training job {handle['id'][:8]} started: mnist/linear~run1 (run, asked by visitor" in text
    assert f"training job {handle['id'][:8]} ended: mnist/linear~run1 done after" in text


def _choose(port: int, network: str, visitor: str, press: bool = True, signed: bool = True,
            headers: dict | None = None):
    """What choosing a network sends (as a link, the ladder and back/forward do), or with `press` what pressing
    "Train it" beside it sends; returns (status, the job handle or None, or the answer's text)."""
    trigger = "train-it.n_clicks" if press else "model-dropdown.value"
    body = {"output": "state-resolve-answer.data", "outputs": {"id": "state-resolve-answer", "property": "data"},
            "inputs": [{"id": "dataset-dropdown", "property": "value", "value": "mnist"},
                       {"id": "model-dropdown", "property": "value", "value": network},
                       {"id": "watch-button", "property": "n_clicks", "value": 0},
                       {"id": "state-resolve-kick", "property": "data", "value": None},
                       {"id": "train-it", "property": "n_clicks", "value": 1 if press else 0}],
            "state": [{"id": "state-admin-token", "property": "data", "value": None}],
            "changedPropIds": [trigger]}
    status, reply = _post(port, body, visitor, signed=signed, headers=headers)
    if status != 200:
        return status, reply
    return status, reply["response"]["state-resolve-answer"]["data"]["job"]


def test_ten_requests_for_a_new_network_start_one_training_run_while_clicks_are_answered(served):
    port, settings, queue, proc, tmp_path = served
    resolved = {"dataset": "mnist", "arch": "linear", "status": "ready", "message": "",
                "checkpoint": Zoo(settings).load("mnist", "linear").id}
    with ThreadPoolExecutor(12) as pool:
        builds = [pool.submit(_choose, port, "mlp-12-tanh", f"{i + 40:032x}") for i in range(10)]
        clicks = [pool.submit(_cell_summary, port, resolved, i % 10) for i in range(30)]
        answers = [f.result() for f in builds]
        latencies = sorted(f.result() for f in clicks)  # every click answered (200) while the build starts
    assert all(status == 200 for status, _ in answers), answers
    handles = {json.dumps(h, sort_keys=True) for _, h in answers}
    assert len(handles) == 1, handles  # ten visitors, one training run
    handle = answers[0][1]
    assert handle["mode"] == "train" and handle["network"] == "mlp-12-tanh"
    during = []
    while queue.get(handle["id"]).active:
        during.append(_cell_summary(port, resolved, len(during) % 10))
        time.sleep(0.05)
    job = _wait(queue, handle["id"])
    assert job.state == "done", job.message
    assert during, "no click was made while the network trained"  # each one answered with its images
    ckpt = Zoo(settings).load("mnist", "mlp-12-tanh")
    assert ckpt.model.widths == (12,) and ckpt.config.arch_args == {"hidden": (12,), "activation": "tanh"}
    with sqlite3.connect(queue.path) as db:  # every job the queue ever held for it: one
        assert db.execute("SELECT COUNT(*) FROM jobs WHERE network='mlp-12-tanh'").fetchone()[0] == 1
    assert (tmp_path / "server.log").read_text().count("started: mnist/mlp-12-tanh") == 1
    print(f"cell summary: p95 {1000 * latencies[int(0.95 * (len(latencies) - 1))]:.0f} ms with the ten requests, "
          f"{len(during)} answered while it trained")
    assert not _zombies(proc.pid)


def test_the_admin_token_retrains_in_place_and_a_wrong_one_is_refused(served):
    port, settings, queue, proc, _ = served
    shipped = settings.model_dir / "mnist-linear.pt"
    before = shipped.read_bytes()
    token, note = _unlock(port, "guess", "a" * 32).values()
    assert token["data"] is None and note["children"] == "That token is not right."
    status, handle = _watch(port, "linear", "a" * 32, token="guess")
    assert status == 200 and handle["mode"] == "run"  # a wrong token is no token
    _wait(queue, handle["id"])
    stored = _unlock(port, "s3cret-token", "b" * 32)
    assert stored["state-admin-token"]["data"] == "s3cret-token"
    status, handle = _watch(port, "linear", "b" * 32, token="s3cret-token")
    assert status == 200 and handle["mode"] == "retrain" and handle["network"] == "linear"
    job = _wait(queue, handle["id"])
    assert job.state == "done" and shipped.read_bytes() != before
    assert stat.S_IMODE(shipped.stat().st_mode) == 0o644  # replaced with its permissions kept
    assert not list(settings.model_dir.glob("*.tmp"))
    assert not _zombies(proc.pid)


def test_jobs_after_cell_clicks_finish_one_after_another_and_two_at_once(served):
    """The hang of forked jobs: a job after 60 cell summaries, then three watches, then two at once."""
    port, settings, queue, proc, _ = served
    resolved = {"dataset": "mnist", "arch": "linear", "status": "ready", "message": "",
                "checkpoint": Zoo(settings).load("mnist", "linear").id}
    for i in range(60):
        _cell_summary(port, resolved, i % 10)
    for i in range(3):
        status, handle = _watch(port, "linear", f"{i + 1:032x}", token="s3cret-token", clicks=i + 1)
        assert status == 200 and "id" in handle, handle
        assert _wait(queue, handle["id"]).state == "done"
    with ThreadPoolExecutor(2) as pool:
        pair = list(pool.map(lambda n: _watch(port, n, f"{len(n):032x}"), ["linear", "mlp"]))
    latencies = []
    while any(queue.get(h["id"]).active for _, h in pair):  # clicks keep being answered meanwhile
        latencies.append(_cell_summary(port, resolved, len(latencies) % 10))
        time.sleep(0.05)
    for _, handle in pair:
        assert _wait(queue, handle["id"]).state == "done"
    assert latencies, "no click was made while the two jobs ran"
    latencies.sort()
    print(f"cell summary while two jobs ran: {len(latencies)} requests, p95 "
          f"{1000 * latencies[int(0.95 * (len(latencies) - 1))]:.0f} ms")
    assert not _zombies(proc.pid)


def test_past_the_bound_requests_are_refused_with_a_sentence_and_a_killed_job_frees_its_slot(served):
    port, settings, queue, proc, _ = served
    networks = ["cnn", "mlp", "linear"]  # cnn trains longest: the others wait behind it
    answers = [_watch(port, n, f"{i + 7:032x}") for i, n in enumerate(networks)]
    answers.append(_watch(port, "linear", f"{99:032x}"))  # joins the queued run of linear
    assert [s for s, _ in answers] == [200] * 4 and answers[3][1] == answers[2][1]
    status, refused = _watch(port, "linear", f"{98:032x}", token="s3cret-token")  # a retrain: a fourth job
    assert status == 200 and refused == {"error": "The trainer is busy: 3 jobs ahead, try again in a few minutes."}
    first = answers[0][1]
    deadline = time.time() + 60
    while queue.get(first["id"]).pid is None and time.time() < deadline:
        time.sleep(0.2)
    os.kill(queue.get(first["id"]).pid, signal.SIGKILL)
    job = _wait(queue, first["id"], 30)
    assert job.state == "failed" and job.message == DIED
    for _, handle in answers[1:3]:
        assert _wait(queue, handle["id"]).state == "done"
    # The killed job's network lock was released with its process: the next request trains it.
    status, again = _watch(port, "cnn", f"{97:032x}")
    assert status == 200 and again["network"] == "cnn" and again["id"] != first["id"]
    queue.cancel(again["id"])
    assert _wait(queue, again["id"]).state in ("cancelled", "done")
    assert not _zombies(proc.pid)


def test_visitor_runs_beyond_the_cap_are_removed_oldest_first_but_never_pinned_or_served(tmp_path):
    from models.config import Settings
    zoo = Zoo(Settings(data_dir=tmp_path / "data", model_dir=tmp_path / "models"))
    zoo.settings.model_dir.mkdir()
    served = zoo.checkpoint_path("mnist", "linear")
    served.write_bytes(b"served")
    for run in range(1, 6):
        path = zoo.checkpoint_path("mnist", f"linear~run{run}")
        for p in (path, path.with_suffix(".timeline.pt"), path.with_suffix(".eval.npz"),
                  zoo.settings.model_dir / f"mnist-linear~run{run}@10.eval.npz"):
            p.write_bytes(b"x")
        os.utime(path, (1_000_000 + run, 1_000_000 + run))
    zoo.checkpoint_path("mnist", "linear~run2").with_suffix(".pin").touch()
    assert zoo.runs("mnist") == [f"linear~run{r}" for r in range(1, 6)]
    assert zoo.next_run("mnist", "linear", taken=["linear~run9", "mlp~run12"]) == "linear~run10"
    assert zoo.prune_runs("mnist", keep=2) == ["linear~run1", "linear~run3"]
    assert zoo.runs("mnist") == ["linear~run2", "linear~run4", "linear~run5"] and served.read_bytes() == b"served"
    left = sorted(p.name for p in zoo.settings.model_dir.iterdir())
    assert not [name for name in left if "run1" in name or "run3" in name], left


def test_built_networks_beyond_the_cap_are_removed_oldest_first_but_never_the_ladders_or_pinned(tmp_path):
    from models import ladder
    from models.config import Settings
    zoo = Zoo(Settings(data_dir=tmp_path / "data", model_dir=tmp_path / "models"))
    zoo.settings.model_dir.mkdir()
    built = ["mlp-7-tanh", "mlp-100-relu", "mlp-8-8-gelu", "mlp-9-sigmoid", "mlp-3-2-1-relu"]
    for age, network in enumerate(built):
        path = zoo.checkpoint_path("mnist", network)
        for p in (path, path.with_suffix(".timeline.pt"), zoo.settings.model_dir / f"mnist-{network}.eval.npz"):
            p.write_bytes(b"x")
        os.utime(path, (1_000_000 + age, 1_000_000 + age))
    zoo.checkpoint_path("mnist", "linear").write_bytes(b"served")
    zoo.checkpoint_path("mnist", "mlp-7-tanh~run1").write_bytes(b"a run")
    zoo.checkpoint_path("mnist", "mlp-8-8-gelu").with_suffix(".pin").touch()
    # Listed by kind, depth and widths; the served network and the run are not built shapes.
    assert zoo.shapes("mnist") == ["mlp-7-tanh", "mlp-9-sigmoid", "mlp-100-relu", "mlp-8-8-gelu", "mlp-3-2-1-relu"]
    assert zoo.next_run("mnist", "mlp-7-tanh") == "mlp-7-tanh~run2"
    removed = zoo.prune_shapes("mnist", keep=1, protect=ladder.networks())
    assert removed == ["mlp-7-tanh", "mlp-9-sigmoid"]  # oldest first; the ladder's and the pinned one stay
    assert zoo.shapes("mnist") == ["mlp-100-relu", "mlp-8-8-gelu", "mlp-3-2-1-relu"]
    left = sorted(p.name for p in zoo.settings.model_dir.iterdir())
    assert not [n for n in left if "mlp-9-sigmoid" in n or n.startswith("mnist-mlp-7-tanh.")], left


def _hwm_and_rss(pid: int) -> tuple[float, float]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmHWM", "VmRSS"):
            fields[name] = int(value.split()[0]) / 1024
    return fields["VmHWM"], fields["VmRSS"]


def test_twelve_uploads_of_the_worst_accepted_picture_at_once_keep_each_worker_bounded(served):
    import base64
    import io
    from PIL import Image
    from app import upload
    port, settings, _, proc, _ = served
    side = int(upload.MAX_PIXELS ** 0.5)  # the largest picture accepted: 2000x2000 RGBA, one colour
    buf = io.BytesIO()
    Image.new("RGBA", (side, side), (200, 30, 30, 255)).save(buf, format="PNG")
    uri = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
    resolved = {"dataset": "mnist", "arch": "linear", "status": "ready", "message": "",
                "checkpoint": Zoo(settings).load("mnist", "linear").id}
    body = {"output": "..own-result.children...own-message.children...own-message.className...state-own-source.data..",
            "outputs": [{"id": "own-result", "property": "children"}, {"id": "own-message", "property": "children"},
                        {"id": "own-message", "property": "className"}, {"id": "state-own-source", "property": "data"}],
            "inputs": [{"id": "draw-pixels", "property": "data", "value": None},
                       {"id": "state-upload", "property": "data", "value": {"contents": uri, "name": "big.png"}},
                       {"id": "state-view", "property": "data", "value": screen(resolved, None, "mnist", "linear")}],
            "state": [{"id": "state-own-source", "property": "data", "value": None}],
            "changedPropIds": ["state-upload.data"]}
    workers = [int(p) for p in Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()]
    before = {pid: _hwm_and_rss(pid) for pid in workers}
    with ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(lambda _: _post(port, body), range(12)))
    assert all(status == 200 for status, _ in answers), [a[1] for a in answers if a[0] != 200][:1]
    assert all("x · w" in json.dumps(reply, ensure_ascii=False) for _, reply in answers)  # each read and explained
    after = {pid: _hwm_and_rss(pid) for pid in workers}
    growth = {pid: round(after[pid][0] - before[pid][1]) for pid in workers}
    print(f"12 uploads of a {side}x{side} PNG: worker peak above its resident size before, MB: {growth}")
    assert max(growth.values()) < 200
    big = io.BytesIO()
    Image.new("RGBA", (4999, 4999), (200, 30, 30, 255)).save(big, format="PNG")
    body["inputs"][1]["value"] = {"contents": "data:image/png;base64," + base64.b64encode(big.getvalue()).decode()}
    status, reply = _post(port, body)
    assert status == 200 and "4999×4999 pixels; at most 4 megapixels" in json.dumps(reply, ensure_ascii=False)


# --- a visitor who does not play along ----------------------------------------------------------------

def _runners() -> set[int]:
    """The job processes (python -m app.runner) alive on this machine now."""
    found = set()
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and b"app.runner" in (entry / "cmdline").read_bytes():
                if (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
                    found.add(int(entry.name))
        except OSError:
            continue
    return found


@pytest.mark.parametrize("served", [{"LOOKINSIDE_JOBS_PER_ADDRESS": "2"}], indirect=True)
def test_rotating_cookies_from_one_address_get_no_more_than_its_limits(served):
    port, settings, queue, proc, tmp_path = served
    # Token guesses: a new cookie (signed, unsigned, none) and a forged X-Forwarded-For with every guess.
    answers = []
    for i in range(13):
        body = {"output": "..state-admin-token.data...admin-note.children..",
                "outputs": [{"id": "state-admin-token", "property": "data"},
                            {"id": "admin-note", "property": "children"}],
                "inputs": [{"id": "admin-input", "property": "value", "value": f"guess{i}"}], "state": [],
                "changedPropIds": ["admin-input.value"]}
        answers.append(_post(port, body, f"{i + 500:032x}" if i % 3 else "", signed=i % 3 == 1,
                             headers={"X-Forwarded-For": f"10.0.0.{i}"})[0])
    assert answers[:10] == [200] * 10 and answers[10:] == [429] * 3, answers
    # Jobs: every visitor a new one, each asking for another network; the address's bound (2 here) holds.
    jobs = [_choose(port, f"mlp-{3 + i}-relu", f"{i + 600:032x}") for i in range(4)]
    assert [status for status, _ in jobs] == [200] * 4, jobs
    assert "id" in jobs[0][1] and "id" in jobs[1][1], jobs
    sentence = ("2 networks asked for from your network are training or waiting already; try again when one has "
                "finished.")
    assert jobs[2][1] == {"error": sentence} and jobs[3][1] == {"error": sentence}
    assert len(queue.active()) == 2
    # The slot is handed over only once the first job's process has exited: never two runners at once.
    most, deadline = 0, time.time() + 2 * JOB_BOUND
    while any(queue.get(h["id"]).active for _, h in jobs[:2]) and time.time() < deadline:
        most = max(most, len(_runners()))
        time.sleep(0.01)
    for _, handle in jobs[:2]:
        assert _wait(queue, handle["id"]).state == "done"
    assert most == 1
    deadline = time.time() + 30
    while list(Path(queue.folder).glob("job-*.lock")) and time.time() < deadline:
        time.sleep(0.1)
    assert not list(Path(queue.folder).glob("job-*.lock"))  # every job's lock goes once its process has
    text = (tmp_path / "server.log").read_text()
    assert "[INFO] training job refused: mnist/mlp-5-relu (train): 2 jobs from one address already" in text
    assert f"[INFO] training job {jobs[0][1]['id'][:8]} queued" in text
    assert not _zombies(proc.pid)


def test_a_link_to_an_untrained_network_queues_nothing(served):
    port, settings, queue, proc, _ = served
    page = urllib.request.urlopen(f"http://127.0.0.1:{port}/?dataset=mnist&model=mlp-999-relu", timeout=60)
    cookie = page.headers["Set-Cookie"]
    assert cookie.startswith("lookinside_visitor=") and "HttpOnly" in cookie
    status, job = _choose(port, "mlp-999-relu", f"{700:032x}", press=False)  # opened, chosen, or back/forward
    assert status == 200 and job is None
    assert queue.active() == [] and not (settings.model_dir / "mnist-mlp-999-relu.pt").exists()
    # The page says so and offers the button; only pressing it queues the job.
    bar = create_app(settings, queue=queue).lookinside_callbacks["bar"]
    answer = bar(screen(state("mnist", "mlp-999-relu", UNTRAINED), None, "mnist", "mlp-999-relu"))
    assert answer[1] == "2-layer (999 hidden units, relu) is not trained here yet." and answer[-1] is False
    assert answer[-2].startswith("Train it (about ")
    status, job = _choose(port, "mlp-999-relu", f"{700:032x}")
    assert status == 200 and job["network"] == "mlp-999-relu"
    queue.cancel(job["id"])
    _wait(queue, job["id"])
