"""Serving benchmarks through HTTP: cold start, callback latency, server memory, bytes on the wire."""
from __future__ import annotations

import http.client
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import psutil

from app.state import screen
from models.datasets import DATASETS

from .load import ACCEPT_ENCODING, CELL_OUTPUTS, CELL_STATE, HEATMAP_OUTPUTS, HEATMAP_STATE, WEIGHTS_OUTPUTS, \
    Client, cell_inputs, decompress, heatmap_inputs

ROOT = Path(__file__).resolve().parent.parent
# The heatmap's outputs: the figure and, above it, the note on units switched off and its reset button.


def cell_click_body(view: dict, cell: dict) -> dict:
    """The request a cell click sends, as the browser builds it (tests/test_elements.py checks the shape)."""
    return {"output": "..%s.." % "...".join(f"{i}.{p}" for i, p in CELL_OUTPUTS),
            "outputs": [{"id": i, "property": p} for i, p in CELL_OUTPUTS],
            "inputs": [{"id": i, "property": p, "value": v} for i, p, v in cell_inputs(cell, view)],
            "state": [{"id": i, "property": p, "value": v} for i, p, v in CELL_STATE],
            "changedPropIds": ["state-cell.data"]}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(port: int, path: str, compressed: bool = False) -> tuple[int, bytes, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers={"Accept-Encoding": ACCEPT_ENCODING} if compressed else {})
        r = conn.getresponse()
        return r.status, r.read(), dict(r.getheaders())
    finally:
        conn.close()


@contextmanager
def serve(cmd: list[str], env: dict, port: int, cwd: Path = ROOT):
    """Start a server process group (in `cwd`); yield it with its start time; stop it afterwards."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        yield proc, start
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def wait_200(port: int, proc, timeout: float = 600) -> float:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("the server exited before answering")
        try:
            if _get(port, "/")[0] == 200:
                return time.perf_counter()
        except OSError:
            time.sleep(0.02)
    raise RuntimeError("the server never answered")


def wait_idle(proc, timeout: float = 300, busy: float = 0.05) -> float:
    """Wait until a server's process tree has used under `busy` of a core for a whole second.

    Each gunicorn worker loads the ready networks and encodes their thumbnails in the background
    after it starts; steady-state numbers are measured once that is done. Returns the seconds waited.
    """
    start = time.perf_counter()
    root = psutil.Process(proc.pid)

    def cpu() -> float:
        total = 0.0
        for p in [root, *root.children(recursive=True)]:
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except psutil.NoSuchProcess:
                continue
        return total

    before = cpu()
    while time.perf_counter() - start < timeout:
        time.sleep(1)
        now = cpu()
        if now - before < busy:
            break
        before = now
    return time.perf_counter() - start


def cold_start(env: dict, model_dir: Path) -> dict:
    """`python -m app` from process start to the first 200 on /, and to the default pair ready."""
    port = free_port()
    cmd = [sys.executable, "-m", "app", "--port", str(port), "--offline", "--model-dir", str(model_dir)]
    with serve(cmd, env, port) as (proc, start):
        first = wait_200(port, proc) - start
        page = Page(port, lambda *a: None)
        while (page.resolve("mnist", "linear") or {}).get("status") != "ready":
            time.sleep(0.05)
        ready = time.perf_counter() - start
    return {"first_200_s": first, "dashboard_ready_s": ready}


class Page:
    """The callback requests one page makes, over one keep-alive connection, timed by name."""

    def __init__(self, port: int, record):
        self.client = Client(f"http://127.0.0.1:{port}", lambda *a: None)
        self.record = record

    def resolve(self, dataset: str, arch: str) -> dict:
        reply = self.client.callback("resolve", [("state-resolve-answer", "data")],
                                     [("dataset-dropdown", "value", dataset), ("model-dropdown", "value", arch),
                                      ("watch-button", "n_clicks", 0), ("state-resolve-kick", "data", None),
                                      ("train-it", "n_clicks", 0)],
                                     state=[("state-admin-token", "data", None)], parse=True)
        return _answered("resolve", (reply.get("state-resolve-answer", {}).get("data") or {}).get("resolved"))

    def heatmap(self, view: dict, mode: str) -> None:
        _answered("heatmap", self.client.callback(
            "heatmap", HEATMAP_OUTPUTS, heatmap_inputs(view, mode), HEATMAP_STATE))

    def weights(self, view: dict) -> None:
        _answered("weights", self.client.callback(
            "weights", WEIGHTS_OUTPUTS,
            [("state-view", "data", view), ("weights-colormap", "value", "diverging"), ("weights-page", "value", "0")]))

    def cell_click(self, view: dict, cell: dict) -> bytes:
        """A click as the browser sends it: the cell is selected in the page, then one request for its images."""
        return _answered("cell click", self.client.callback(
            "cell click", CELL_OUTPUTS, cell_inputs(cell, view), CELL_STATE))

    def timed(self, name: str, action) -> None:
        start = time.perf_counter()
        action()
        self.record(name, time.perf_counter() - start)

    def switch(self, dataset: str, arch: str) -> None:
        """A dropdown change: the pair is resolved, then the heatmap and weights are drawn (the view store
        between them is written in the browser)."""
        view = screen(self.resolve(dataset, arch), None, dataset, arch)
        self.heatmap(view, "counts")
        self.weights(view)


def _answered(name: str, reply):
    """A request's answer; a refused or failed one stops the benchmark (timing errors measures nothing)."""
    if reply is None:
        raise RuntimeError(f"the {name} request was not answered with 200 or 204: the benchmark's requests no "
                           "longer match the page's callbacks")
    return reply


def latency(port: int, pairs: list[tuple[str, str]], n: int = 200, clients: int = 20) -> dict:
    """p50/p95 of each interaction, over n requests one at a time and then from `clients` at once."""
    datasets_ready = sorted({d for d, _ in pairs})
    archs = {d: sorted(a for dd, a in pairs if dd == d) for d in datasets_ready}
    results = {}
    for label, workers in (("sequential", 1), (f"{clients} concurrent", clients)):
        times, lock = {}, threading.Lock()

        def record(name, dt):
            with lock:
                times.setdefault(name, []).append(dt)

        def drive(seed: int, count: int):
            rng, page = random.Random(seed), Page(port, record)
            states = {p: screen(page.resolve(*p), None, *p) for p in pairs}
            for i in range(count):
                dataset = rng.choice(datasets_ready)
                arch = rng.choice(archs[dataset])
                state = states[(dataset, arch)]
                k = len(DATASETS[dataset].classes)
                cell = {"actual": rng.randrange(k), "predicted": rng.randrange(k)}
                page.timed("cell click", lambda: page.cell_click(state, cell))
                page.timed("normalization toggle", lambda: page.heatmap(state, ("counts", "percent")[i % 2]))
                other = datasets_ready[(datasets_ready.index(dataset) + 1) % len(datasets_ready)]
                arch_there = arch if arch in archs[other] else archs[other][0]
                page.timed("dataset switch", lambda: page.switch(other, arch_there))
                other_arch = archs[dataset][(archs[dataset].index(arch) + 1) % len(archs[dataset])]
                page.timed("model switch", lambda: page.switch(dataset, other_arch))

        per = max(1, n // workers)
        threads = [threading.Thread(target=drive, args=(s, per)) for s in range(workers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        results[label] = {name: {"n": len(v), "p50_ms": round(float(np.percentile(v, 50)) * 1000, 1),
                                 "p95_ms": round(float(np.percentile(v, 95)) * 1000, 1)}
                          for name, v in sorted(times.items())}
    return results


def wire_bytes(port: int, pair: tuple[str, str]) -> dict:
    """The initial page load as served to Chromium (its Accept-Encoding), and one cell click's response."""
    total, encodings = 0, set()
    status, body, headers = _get(port, "/", compressed=True)
    paths = ["/", "/_dash-layout", "/_dash-dependencies"]
    html = decompress(body, headers.get("Content-Encoding")).decode()
    for token in html.split('"'):
        if token.startswith("/_dash-component-suites/") or token.startswith("/assets/"):
            paths.append(token)
    for path in paths:
        _, data, headers = _get(port, path, compressed=True)
        total += len(data)
        encodings.add(headers.get("Content-Encoding", "identity"))
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    page = Page(port, lambda *a: None)
    view = screen(page.resolve(*pair), None, *pair)
    body = cell_click_body(view, {"actual": 1, "predicted": 1})
    conn.request("POST", "/_dash-update-component", json.dumps(body),
                 {"Content-Type": "application/json", "Accept-Encoding": ACCEPT_ENCODING})
    r = conn.getresponse()
    click = r.read()
    click_encoding = r.getheader("Content-Encoding", "identity")
    raw = decompress(click, click_encoding)
    conn.close()
    return {"page_load_bytes": total, "page_load_files": len(paths), "page_encodings": sorted(encodings),
            "cell_click_bytes": len(click), "cell_click_uncompressed_bytes": len(raw),
            "cell_click_images": raw.count(b"base64,"), "cell_click_encoding": click_encoding}


def bare_torch_rss() -> float:
    """Resident memory of a Python process that only imported torch, in MB."""
    code = "import torch, psutil, os; print(psutil.Process(os.getpid()).memory_info().rss)"
    return int(subprocess.check_output([sys.executable, "-c", code], cwd=ROOT)) / 2 ** 20


def memory(env: dict, model_dir: Path) -> dict:
    """One `python -m app` process after every dataset was asked for, against a bare torch import."""
    port = free_port()
    cmd = [sys.executable, "-m", "app", "--port", str(port), "--offline", "--model-dir", str(model_dir)]
    with serve(cmd, env, port) as (proc, _):
        wait_200(port, proc)
        page = Page(port, lambda *a: None)
        loaded = []
        for name in DATASETS:
            # The server evaluates its checkpoints in the background at start; wait for each.
            deadline = time.time() + 180
            while (state := page.resolve(name, "linear") or {}).get("status") == "untrained" \
                    and time.time() < deadline:
                time.sleep(0.5)
            if state.get("status") == "ready":
                page.heatmap(state, "counts")
                page.cell_click(state, {"actual": 1, "predicted": 1})
                loaded.append(name)
        wait_idle(proc)  # the warm-up has loaded every ready network and encoded its thumbnails
        rss = psutil.Process(proc.pid).memory_info().rss / 2 ** 20
    torch_only = bare_torch_rss()
    return {"server_rss_mb": round(rss), "bare_torch_rss_mb": round(torch_only),
            "difference_mb": round(rss - torch_only), "datasets_loaded": loaded}


def _smaps(pid: int) -> dict[str, float]:
    """Pss and Rss of one process, in MB, from /proc/PID/smaps_rollup."""
    found = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("Pss", "Rss"):
            found[name.lower()] = int(value.split()[0]) / 1024
    return found


def memory_image(env: dict, pairs: list[tuple[str, str]], preload: bool, workers: int = 3) -> dict:
    """Total PSS of gunicorn's master and workers once warm and after every pair was drawn.

    With gunicorn.conf.py (preload) the master loads everything before it forks; without it (an empty
    config) each worker loads its own copy, as before.
    """
    port = free_port()
    config = [] if preload else ["--config", "/dev/null"]
    cmd = [sys.executable, "-m", "gunicorn", *config, "--workers", str(workers), "--threads", "4", "--bind",
           f"127.0.0.1:{port}", "--timeout", "120", "app:server"]
    with serve(cmd, env, port) as (proc, _):
        wait_200(port, proc)
        wait_idle(proc)
        page = Page(port, lambda *a: None)
        for _ in range(workers * 2):  # reach every worker: each draws every pair once
            for name, arch in pairs:
                state = page.resolve(name, arch)
                if state and state.get("status") == "ready":
                    page.heatmap(state, "counts")
                    page.cell_click(state, {"actual": 1, "predicted": 1})
        wait_idle(proc)
        root = psutil.Process(proc.pid)
        procs = [root, *root.children()]
        figures = {p.pid: _smaps(p.pid) for p in procs}
    return {"preload": preload, "workers": workers, "total_pss_mb": round(sum(f["pss"] for f in figures.values())),
            "master_rss_mb": round(figures[proc.pid]["rss"]),
            "worker_rss_mb": [round(f["rss"]) for pid, f in figures.items() if pid != proc.pid],
            "worker_pss_mb": [round(f["pss"]) for pid, f in figures.items() if pid != proc.pid]}


def replay_on_and_off(env: dict, pairs: list[tuple[str, str]], rounds: int = 3, n: int = 200) -> list[dict]:
    """`latency` against a fresh server with the stored responses on, then off, `rounds` times over."""
    found = []
    for round_ in range(rounds):
        for replay in (True, False):
            port = free_port()
            cmd = [sys.executable, "-m", "gunicorn", "--workers", "3", "--threads", "4", "--bind",
                   f"127.0.0.1:{port}", "--timeout", "120", "app:server"]
            with serve(cmd, {**env, "LOOKINSIDE_REPLAY": "1" if replay else "0"}, port) as (proc, _):
                wait_200(port, proc)
                wait_idle(proc)
                found.append({"round": round_, "replay": replay, "latency": latency(port, pairs, n=n)})
    return found
