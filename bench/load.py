"""Load test: simulated visitors drive a gunicorn-served dashboard; prints latency per callback and RSS.

    python -m bench.load [--visitors 20] [--seconds 60] [--workers 3] [--threads 4] [--json FILE]

Starts gunicorn on a free port with the current LOOKINSIDE_* settings (or uses --url), and each
visitor loops: load the page, choose a random trained pair, draw the heatmap, click a random cell,
open one of its images, draw the weights. Only pairs that already have a checkpoint are chosen,
so no request starts a training run. After the flood, 200 clients hang up mid-request and a
second, shorter flood runs: the server's memory after each shows whether it keeps growing.
"""
from __future__ import annotations

import argparse
import gzip
import zlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import psutil

from app.state import screen
from models.datasets import DATASETS
from models.kinds import KINDS

ROOT = Path(__file__).resolve().parent.parent


# The heatmap's outputs: the figure, the note on units switched off and its reset button, and what the page's
# figure is drawn for (sent back as the request's state: a request for what the page shows answers nothing).
HEATMAP_OUTPUTS = [("confusion-graph", "figure"), ("off-note", "children"), ("off-reset", "className"),
                   ("confusion-drawn", "data")]
HEATMAP_STATE = [("confusion-drawn", "data", None)]


def heatmap_inputs(view, mode: str = "counts", shown: str = "numbers", off=None) -> list:
    """The heatmap's inputs for the network on screen, drawn in `mode` and `shown` with units `off`."""
    return [("state-view", "data", view), ("confusion-mode", "value", mode), ("confusion-view", "value", shown),
            ("state-units-off", "data", off), ("state-off-done", "data", None), ("off-ask", "data", None)]
# The cell list's outputs: its heading, its tiles (as data), its "show more" button and the cell's summary (one
# request a click).
CELL_OUTPUTS = [("cell-samples-head", "children"), ("state-tiles", "data"), ("samples-more", "className"),
                ("cell-summary", "children"), ("state-shown", "data")]
CELL_STATE = [("state-shown", "data", 24)]  # how many images the list shows


def cell_inputs(cell: dict, view: dict) -> list:
    """The cell list's inputs for a click on `cell` of the network on screen: nothing selected on the map, no
    unit switched off, "show more" never pressed."""
    return [("state-cell", "data", cell), ("samples-sort", "value", "predicted"), ("state-view", "data", view),
            ("state-map-pick", "data", None), ("state-units-off", "data", None), ("state-off-done", "data", None),
            ("samples-more", "n_clicks", 0)]
# The weights card's outputs: its tiles and charts (as data, drawn in the browser) and its pager.
WEIGHTS_OUTPUTS = [("state-weights", "data"), ("weights-page", "options"), ("weights-pager", "className")]
ACCEPT_ENCODING = "gzip, deflate, br, zstd"  # what Chromium sends; the server picks zstd, then br, then gzip


def decompress(payload: bytes, encoding: str | None) -> bytes:
    """A response body as sent with this Content-Encoding, decoded."""
    if encoding in (None, "", "identity"):
        return payload
    if encoding == "gzip":
        return gzip.decompress(payload)
    if encoding == "deflate":
        return zlib.decompress(payload)
    if encoding == "br":
        import brotli  # flask-compress's own dependencies: whatever it can send, these can read
        return brotli.decompress(payload)
    if encoding == "zstd":
        try:
            from compression import zstd  # Python 3.14
        except ImportError:
            from backports import zstd
        return zstd.decompress(payload)
    raise ValueError(f"unknown Content-Encoding {encoding!r}")


class Client:
    """One visitor's keep-alive connection; records each request's latency under a name.

    A plain HTTP/1.1 client on a socket rather than http.client: the visitors run on the same two
    cores as the server, and with http.client they used twice the CPU for the same requests (0.9 s
    against 0.4 s in a latency run). What the load generator takes, the server does not get.
    """

    def __init__(self, base: str, record):
        parts = urlsplit(base)
        self.host, self.port, self.record = parts.hostname, parts.port, record
        self.sock: socket.socket | None = None
        self.buffer = b""

    def request(self, name: str, method: str, path: str, body: dict | None = None,
                decode: bool = False) -> bytes | None:
        """The response body (decompressed if `decode`), or None on an error; asks for what Chromium asks."""
        data = json.dumps(body).encode() if body is not None else b""
        head = (f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nAccept-Encoding: {ACCEPT_ENCODING}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n").encode()
        start = time.perf_counter()
        try:
            if self.sock is None:
                self.sock = socket.create_connection((self.host, self.port), timeout=60)
                self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self.buffer = b""
            self.sock.sendall(head + data)
            status, headers, payload = self._response()
            ok = status in (200, 204)
        except (OSError, ValueError):
            self.close()
            status, headers, payload, ok = 0, {}, b"", False
        self.record(name, time.perf_counter() - start, ok)
        if headers.get("connection") == "close":
            self.close()
        if not ok or not decode:
            return payload if ok else None
        return decompress(payload, headers.get("content-encoding"))

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
        self.sock, self.buffer = None, b""

    def _read_until(self, marker: bytes) -> bytes:
        while marker not in self.buffer:
            self._fill()
        found, _, self.buffer = self.buffer.partition(marker)
        return found

    def _read(self, n: int) -> bytes:
        while len(self.buffer) < n:
            self._fill()
        found, self.buffer = self.buffer[:n], self.buffer[n:]
        return found

    def _fill(self) -> None:
        chunk = self.sock.recv(262144)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        self.buffer += chunk

    def _response(self) -> tuple[int, dict, bytes]:
        lines = self._read_until(b"\r\n\r\n").decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        if headers.get("transfer-encoding") == "chunked":
            parts = []
            while size := int(self._read_until(b"\r\n").split(b";")[0], 16):
                parts.append(self._read(size))
                self._read(2)
            self._read_until(b"\r\n")  # no trailers are sent; this is the last chunk's empty line
            return status, headers, b"".join(parts)
        return status, headers, self._read(int(headers.get("content-length", 0)))

    def callback(self, name: str, outputs: list[tuple[str, str]], inputs: list[tuple[str, str, object]],
                 state: list[tuple[str, str, object]] = (), parse: bool = False):
        """Send one callback request; with `parse`, return its outputs ({id: {property: value}})."""
        output = ("..." .join(f"{i}.{p}" for i, p in outputs))
        body = {"output": f"..{output}.." if len(outputs) > 1 else output,
                "outputs": [{"id": i, "property": p} for i, p in outputs] if len(outputs) > 1
                else {"id": outputs[0][0], "property": outputs[0][1]},
                "inputs": [{"id": i, "property": p, "value": v} for i, p, v in inputs],
                "state": [{"id": i, "property": p, "value": v} for i, p, v in state],
                "changedPropIds": [f"{inputs[0][0]}.{inputs[0][1]}"]}
        reply = self.request(name, "POST", "/_dash-update-component", body, decode=parse)
        if not parse:
            return reply
        return json.loads(reply).get("response", {}) if reply else {}


def resolve(client: Client, dataset: str, arch: str) -> dict | None:
    reply = client.callback("switch (resolve)", [("state-resolve-answer", "data")],
                            [("dataset-dropdown", "value", dataset), ("model-dropdown", "value", arch),
                             ("watch-button", "n_clicks", 0), ("state-resolve-kick", "data", None),
                             ("train-it", "n_clicks", 0)],
                            state=[("state-admin-token", "data", None)], parse=True)
    return (reply.get("state-resolve-answer", {}).get("data") or {}).get("resolved")


def visit(client: Client, pairs: list[tuple[str, str]], rng: random.Random) -> None:
    client.request("page /", "GET", "/")
    client.request("page layout", "GET", "/_dash-layout")
    dataset, arch = rng.choice(pairs)
    view = screen(resolve(client, dataset, arch), None, dataset, arch)  # the browser writes the view store
    k = len(DATASETS[dataset].classes)
    mode = rng.choice(["counts", "percent"])
    shown = rng.choice(["numbers", "numbers", "images"])
    cell = {"actual": rng.randrange(k), "predicted": rng.randrange(k)}
    on_screen = ("state-view", "data", view)
    client.callback("heatmap", HEATMAP_OUTPUTS, heatmap_inputs(view, mode, shown), HEATMAP_STATE)
    client.callback("status", [("accuracy", "children"), ("model-status", "children"), ("model-status", "className"),
                               ("timeline-note", "children"), ("watch-button", "children"), ("watch-button", "title"),
                               ("train-it", "children"), ("train-it", "hidden")],
                    [on_screen, ("state-units-off", "data", None), ("state-off-done", "data", None)])
    # A click selects its cell in the browser; the one request it costs is for the cell's images.
    client.callback("cell click", CELL_OUTPUTS, cell_inputs(cell, view), CELL_STATE)
    client.callback("image explanation", [("explain-panel", "children"), ("explain-card", "className"),
                                          ("saliency-box", "className")],
                    [("explain-ask", "data", {"index": rng.randrange(10000), "view": view}),
                     ("saliency-method", "value", "ig")])
    client.callback("weights", WEIGHTS_OUTPUTS,
                    [on_screen, ("weights-colormap", "value", "diverging"), ("weights-page", "value", "0")])


def server_rss(pid: int) -> float:
    """Resident memory of a server and all its workers, in MB."""
    proc = psutil.Process(pid)
    return sum(p.memory_info().rss for p in [proc, *proc.children(recursive=True)]) / 2 ** 20


def disconnect_storm(base: str, n: int = 200) -> None:
    """Clients that send half a request, or a request, and hang up before the answer."""
    parts = urlsplit(base)
    for i in range(n):
        with socket.create_connection((parts.hostname, parts.port), timeout=5) as s:
            if i % 2:
                s.sendall(b"POST /_dash-update-component HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n{\"out")
            else:
                s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")


def run(base: str, visitors: int, seconds: float, server_pid: int | None) -> dict:
    lat, errors, lock = defaultdict(list), defaultdict(int), threading.Lock()

    def record(name, dt, ok):
        with lock:
            lat[name].append(dt)
            errors[name] += 0 if ok else 1

    probe = Client(base, lambda *a: None)
    pairs = [(d, a) for d in DATASETS for a in KINDS if (resolve(probe, d, a) or {}).get("status") == "ready"]
    if not pairs:
        raise SystemExit("no trained pair is ready on the server: start it with checkpoints and data")
    rss_before = server_rss(server_pid) if server_pid else None
    stop = time.time() + seconds

    def visitor(seed):
        client, rng = Client(base, record), random.Random(seed)
        while time.time() < stop:
            visit(client, pairs, rng)

    def flood():
        threads = [threading.Thread(target=visitor, args=(i,)) for i in range(visitors)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    flood()
    after_load = server_rss(server_pid) if server_pid else None
    # Then clients that hang up mid-request, and a second flood: memory must level off, not keep growing.
    disconnect_storm(base)
    stop = time.time() + seconds / 2
    flood()
    after_second = server_rss(server_pid) if server_pid else None
    per = {name: {"requests": len(v), "errors": errors[name],
                  **{f"p{q}_ms": round(float(np.percentile(v, q)) * 1000, 1) for q in (50, 95, 99)}}
           for name, v in sorted(lat.items())}
    return {"visitors": visitors, "seconds": seconds, "pairs": [f"{d}/{a}" for d, a in pairs],
            "requests": sum(len(v) for v in lat.values()), "errors": sum(errors.values()),
            "rss_mb_before": rss_before and round(rss_before), "rss_mb_after_load": after_load and round(after_load),
            "rss_mb_after_disconnects_and_second_load": after_second and round(after_second),
            "per_callback": per}


def table(result: dict) -> str:
    lines = [f"{result['visitors']} visitors for {result['seconds']:.0f} s, then 200 clients that hang up "
             f"mid-request and {result['seconds'] / 2:.0f} s more, over {', '.join(result['pairs'])}: "
             f"{result['requests']} requests, {result['errors']} errors. Server RSS (gunicorn and its workers): "
             f"{result['rss_mb_before']} MB at start, {result['rss_mb_after_load']} MB after the first flood, "
             f"{result['rss_mb_after_disconnects_and_second_load']} MB after the rest.",
             "", "| request | count | errors | p50 ms | p95 ms | p99 ms |", "|---|---|---|---|---|---|"]
    for name, r in result["per_callback"].items():
        lines.append(f"| {name} | {r['requests']} | {r['errors']} | {r['p50_ms']} | {r['p95_ms']} | {r['p99_ms']} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.splitlines()[0])
    p.add_argument("--url", help="an already running server; default: start gunicorn here")
    p.add_argument("--visitors", type=int, default=20)
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--workers", type=int, default=3)
    p.add_argument("--threads", type=int, default=4)
    p.add_argument("--json", help="also write the result here")
    args = p.parse_args(argv)
    proc = None
    base = args.url
    if base is None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        base = f"http://127.0.0.1:{port}"
        proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "--workers", str(args.workers), "--threads",
                                 str(args.threads), "--bind", f"127.0.0.1:{port}", "--timeout", "120",
                                 "app:server"], cwd=ROOT, env=os.environ.copy(), start_new_session=True)
        for _ in range(240):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.25)
    try:
        result = run(base, args.visitors, args.seconds, proc.pid if proc else None)
    finally:
        if proc:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
    print(table(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 1 if result["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
