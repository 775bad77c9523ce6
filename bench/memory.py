"""The memory sweep of issue 28: every layer's map of every network on the server, with nearest training images.

`python -m bench --only memory`, or `python -m bench.memory [--clients 6] [--rounds 3]`. Starts gunicorn as
deployed (gunicorn.conf.py, 3 workers x 4 threads) over a copy of the shipped checkpoints, then `clients`
threads ask, `rounds` times over and each in its own order, for the PCA map of every layer of every ready
network and the nearest training images of 4 test images in each layer. Memory is sampled every 0.2 s: the
proportional set size (PSS) of the master and its workers together, and each worker's growth.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import psutil

from models import config, datasets, layers
from models.config import Settings
from models.zoo import Zoo

from .maps import DRAW, _body
from .serving import free_port

ROOT = Path(__file__).resolve().parent.parent
IMAGES = (0, 1234, 5678, 9999)
# Networks a class might have built in the page, wide ones among them (`--built`): trained once into BUILT_DIR.
BUILT = [("mnist", "mlp-32-16-tanh"), ("mnist", "mlp-100-relu"), ("mnist", "mlp-800-relu"),
         ("mnist", "mlp-1024-1024-1024-relu"), ("fashion-mnist", "mlp-200-relu"), ("cifar10", "mlp-512-256-relu"),
         ("cifar10", "mlp-1024-1024-1024-relu")]
BUILT_DIR = Path(tempfile.gettempdir()) / "lookinside-bench-built"


def build(settings: Settings) -> list[Path]:
    """The BUILT networks' checkpoints (trained with their defaults the first time, kept for later runs)."""
    zoo, found = Zoo(Settings(data_dir=settings.data_dir, model_dir=BUILT_DIR, offline=True)), []
    for dataset, network in BUILT:
        try:
            datasets.load(dataset, False, settings)
        except datasets.DataError:
            continue
        if not zoo.has_checkpoint(dataset, network):
            print(f"training {dataset}/{network} for the sweep (once)", file=sys.stderr)
            zoo.train(dataset, network)
        found += [p for p in BUILT_DIR.glob(f"{dataset}-{network}.*") if not p.name.endswith(".lock")]
    return found


def pss(pid: int) -> tuple[float, list[float]]:
    """(PSS of the process and its children in MB, each child's PSS in MB)."""
    proc = psutil.Process(pid)
    workers = []
    total = proc.memory_full_info().pss
    for child in proc.children():
        try:
            workers.append(child.memory_full_info().pss / 2 ** 20)
        except psutil.Error:
            continue
    return (total + sum(workers) * 2 ** 20) / 2 ** 20, workers


def networks(settings: Settings) -> list[tuple[str, str, list[str]]]:
    """(dataset, network, its layers' keys with the input first) for every ready fully connected network here."""
    zoo, found = Zoo(settings), []
    for path in sorted(settings.model_dir.glob("*.pt")):
        if path.name.endswith(".timeline.pt"):
            continue
        for dataset in datasets.DATASETS:
            if path.name.startswith(f"{dataset}-"):
                network = path.name[len(dataset) + 1:-3]
                try:
                    ckpt = zoo.load(dataset, network)
                    datasets.load(dataset, False, settings)
                except Exception:
                    continue
                found.append((dataset, network, [layers.INPUT, *layers.keys(ckpt.model)]))
    return found


def sweep(port: int, work: list[tuple[str, str, list[str]]], clients: int, rounds: int) -> dict:
    def post(conn, body: str) -> tuple[int, float]:
        began = time.perf_counter()
        conn.request("POST", "/_dash-update-component", body, {"Content-Type": "application/json"})
        response = conn.getresponse()
        response.read()
        return response.status, time.perf_counter() - began

    stores = {}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    for dataset, network, _ in work:
        body = _body("state-resolve-answer.data", [
            ("dataset-dropdown", "value", dataset), ("model-dropdown", "value", network),
            ("watch-button", "n_clicks", 0), ("state-resolve-kick", "data", None), ("train-it", "n_clicks", 0)],
            [("state-admin-token", "data", None)])
        conn.request("POST", "/_dash-update-component", body, {"Content-Type": "application/json"})
        found = json.loads(conn.getresponse().read())["response"]["state-resolve-answer"]["data"]["resolved"]
        stores[(dataset, network)] = {"dataset": dataset, "network": network, "status": found["status"],
                                      "message": found["message"], "checkpoint": found["checkpoint"],
                                      "position": None}
    requests = []
    for dataset, network, keys in work:
        store = stores[(dataset, network)]
        if store["status"] != "ready":
            continue
        for key in keys:
            requests.append(("map", _body(DRAW, [("state-view", "data", store), ("embedding-layer", "value", key),
                                                ("embedding-method", "value", "pca"),
                                                ("state-embedding-done", "data", None)])))
            for index in IMAGES:
                requests.append(("nearest", _body("explain-nearest.children", [
                    ("explain-ask", "data", {"index": index, "view": store}), ("embedding-layer", "value", key),
                    ("state-embedding-done", "data", None)])))
    times: dict[str, list[float]] = {"map": [], "nearest": [], "map_cached": [], "nearest_cached": []}
    statuses: dict[int, int] = {}
    lock = threading.Lock()

    def client(seed: int) -> None:
        rng = random.Random(seed)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        for round_no in range(rounds):  # after the first round every layer is cached in every worker
            order = list(requests)
            rng.shuffle(order)
            for kind, body in order:
                status, took = post(conn, body)
                with lock:
                    times[kind].append(took)
                    if round_no:
                        times[f"{kind}_cached"].append(took)
                    statuses[status] = statuses.get(status, 0) + 1

    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(client, range(clients)))
    return {"requests": len(requests) * rounds * clients, "statuses": statuses,
            **{f"{k}_p50_ms": round(1000 * float(np.percentile(v, 50)), 1) for k, v in times.items() if v},
            **{f"{k}_p95_ms": round(1000 * float(np.percentile(v, 95)), 1) for k, v in times.items() if v},
            **{f"{k}_max_ms": round(1000 * max(v), 1) for k, v in times.items() if v}}


def run(settings: Settings, clients: int = 6, rounds: int = 3, workers: int = 3, built: bool = False) -> dict:
    """Start gunicorn as deployed on a copy of the model folder (with `built`, the BUILT networks too), sweep,
    and sample memory throughout."""
    extra = build(settings) if built else []
    with tempfile.TemporaryDirectory() as scratch:
        models = Path(scratch) / "models"
        shutil.copytree(settings.model_dir, models, ignore=shutil.ignore_patterns("*.lock", "maps"))
        for path in extra:
            shutil.copy2(path, models / path.name)
        here = Settings(data_dir=settings.data_dir, model_dir=models, offline=True)
        work = networks(here)
        port = free_port()
        env = {**os.environ, "LOOKINSIDE_DATA_DIR": str(settings.data_dir), "LOOKINSIDE_MODEL_DIR": str(models),
               "LOOKINSIDE_JOBS_DIR": str(Path(scratch) / "jobs"), "LOOKINSIDE_OFFLINE": "1",
               "LOOKINSIDE_ADMIN_TOKEN": "bench-only"}
        log = open(Path(scratch) / "server.log", "w")
        proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--workers",
                                 str(workers), "--threads", "4", "--timeout", "600", "--bind", f"127.0.0.1:{port}",
                                 "app:server"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait(port, proc)
            time.sleep(2)
            before, before_workers = pss(proc.pid)
            peak, peak_workers, done = [before], [max(before_workers)], threading.Event()
            at_peak: dict = {"pss": 0.0}  # where the largest worker's memory sat when it was largest
            before_kinds = {child.pid: where(child.pid) for child in psutil.Process(proc.pid).children()}

            def sample():
                while not done.wait(0.2):
                    try:
                        total, each = pss(proc.pid)
                        children = psutil.Process(proc.pid).children()
                    except psutil.Error:
                        continue
                    peak.append(total)
                    peak_workers.append(max(each, default=0))
                    for child in children:  # smaps' own sum, so that the parts add up to the peak they explain
                        now = where(child.pid)
                        if sum(now.values()) > at_peak["pss"]:
                            at_peak.update(pss=sum(now.values()), now=now, before=before_kinds.get(child.pid, {}))
            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            began = time.perf_counter()
            result = sweep(port, work, clients, rounds)
            seconds = time.perf_counter() - began
            done.set()
            sampler.join()
            after, after_workers = pss(proc.pid)
            kinds = [_rss_kinds(child.pid) for child in psutil.Process(proc.pid).children()]
        finally:
            proc.terminate()
            proc.wait(timeout=60)
            log.close()
            errors = [line for line in (Path(scratch) / "server.log").read_text().splitlines()
                      if "Traceback" in line or "[ERROR]" in line]
    return {"networks": len(work), "layers": sum(len(k) for _, _, k in work), "clients": clients, "rounds": rounds,
            "workers": workers, "seconds": round(seconds, 1), **result,
            "pss_before_mb": round(before), "pss_peak_mb": round(max(peak)), "pss_after_mb": round(after),
            "worker_before_mb": round(max(before_workers)), "worker_peak_mb": round(max(peak_workers)),
            "worker_growth_mb": round(max(peak_workers) - max(before_workers)),
            "feature_budget_mb": round(int(os.environ.get("LOOKINSIDE_FEATURE_BYTES", 800_000_000)) / 2 ** 20),
            "log_errors": len(errors),
            # after the sweep, per worker: its own memory (anonymous) and the files it maps (shared page cache)
            "worker_private_mb": [k.get("Private_Dirty") for k in kinds],
            "worker_file_mb": [k.get("RssFile") for k in kinds],
            # the largest worker at its peak, by kind of mapping: PSS in MB, and its growth since the start
            "worker_peak_where_mb": at_peak.get("now", {}),
            "worker_peak_growth_where_mb": {k: round(v - at_peak.get("before", {}).get(k, 0))
                                            for k, v in at_peak.get("now", {}).items()}}


# A worker's mappings, by what they hold (/proc/PID/smaps): its heap and other anonymous memory, the features
# and indexes mapped from the model folder, the checkpoints, the datasets' files, and libraries.
WHERE = (("features and indexes (mapped)", (".npy", ".f16", ".f32", "/maps/")), ("checkpoints", (".pt",)),
         ("libraries", (".so",)), ("datasets", ("-ubyte", ".bin", "/datasets/", "data_batch", "test_batch")))


def where(pid: int) -> dict:
    """PSS in MB of one process, by kind of mapping."""
    found: dict = {}
    name = None
    try:
        text = Path(f"/proc/{pid}/smaps").read_text()
    except OSError:
        return found
    for line in text.splitlines():
        head = line.split()
        if not head:
            continue
        if not head[0].endswith(":") or "-" in head[0]:  # a mapping's first line: range, perms, ..., path
            path = head[5] if len(head) > 5 else ""
            name = "heap" if path == "[heap]" else "anonymous" if not path or path.startswith("[anon") else \
                next((kind for kind, marks in WHERE if any(m in path for m in marks)), "other files")
        elif head[0] == "Pss:" and name is not None:
            found[name] = found.get(name, 0) + int(head[1]) / 1024
    return {k: round(v) for k, v in sorted(found.items())}


def _rss_kinds(pid: int) -> dict:
    found = {}
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines() + \
            Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
    except OSError:
        return found
    for line in lines:
        name, _, value = line.partition(":")
        if name in ("RssFile", "Private_Dirty"):
            found[name] = round(int(value.split()[0]) / 1024)
    return found


def _wait(port: int, proc: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("gunicorn exited before it served")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError("gunicorn did not answer in time")


def table(r: dict) -> str:
    return "\n".join([
        f"{r['networks']} networks ({r['layers']} layers with the input) on the server; {r['clients']} clients, "
        f"{r['rounds']} rounds, {r['requests']:,} requests in {r['seconds']} s; answers {r['statuses']}",
        "",
        "| what | measured | target | |",
        "|---|---|---|---|",
        f"| PSS of master and {r['workers']} workers | {r['pss_before_mb']:,} MB before, peak {r['pss_peak_mb']:,} MB, "
        f"{r['pss_after_mb']:,} MB after | ≤ 3,072 MB | {'met' if r['pss_peak_mb'] <= 3072 else 'missed'} |",
        f"| a worker's growth | {r['worker_growth_mb']:,} MB (from {r['worker_before_mb']:,} to {r['worker_peak_mb']:,}) | "
        f"≤ {r['feature_budget_mb'] + 200:,} MB (features' budget + 200) | "
        f"{'met' if r['worker_growth_mb'] <= r['feature_budget_mb'] + 200 else 'missed'} |",
        f"| nearest images, every round | p50 {r.get('nearest_p50_ms')} ms, p95 {r.get('nearest_p95_ms')} ms, slowest "
        f"{r.get('nearest_max_ms')} ms | | (the first round builds every layer) |",
        f"| nearest images, later rounds (cached) | p50 {r.get('nearest_cached_p50_ms')} ms, p95 "
        f"{r.get('nearest_cached_p95_ms')} ms | p95 ≤ 100 ms | "
        f"{'met' if r.get('nearest_cached_p95_ms', 1e9) <= 100 else 'missed'} |",
        f"| a layer's map | p50 {r.get('map_p50_ms')} ms, p95 {r.get('map_p95_ms')} ms | | |",
        f"| each worker after: memory of its own (private dirty), and files it maps (shared) | "
        f"{r['worker_private_mb']} MB; "
        f"{r['worker_file_mb']} MB | | |",
        f"| the largest worker at its peak, by kind of mapping (PSS; growth since the start) | "
        f"{r.get('worker_peak_where_mb')}; {r.get('worker_peak_growth_where_mb')} | | |",
        f"| errors or tracebacks in the server's log | {r['log_errors']} | 0 | {'met' if not r['log_errors'] else 'missed'} |",
    ])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clients", type=int, default=6)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--workers", type=int, default=3)
    p.add_argument("--built", action="store_true", help="add wide networks built in the page (trained once, minutes)")
    args = p.parse_args(argv)
    # The networks swept: the model folder named (LOOKINSIDE_MODEL_DIR), else the shipped ones (copied first).
    named = os.environ.get(config.MODEL_DIR_ENV) or config.SHIPPED_DIR
    result = run(Settings.resolve(model_dir=named, offline=True), args.clients, args.rounds, args.workers, args.built)
    print(json.dumps(result, indent=1))
    print(table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
