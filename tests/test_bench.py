"""The load script runs end to end against a live server and reports what it measured."""
from __future__ import annotations

import threading

from werkzeug.serving import make_server

from app.main import create_app
from bench import load
from tests.conftest import quick_trained


def test_load_script_smoke(tmp_path):
    with quick_trained(tmp_path, [("mnist", "linear"), ("cifar10", "mlp")]) as (settings, _):
        server = make_server("127.0.0.1", 0, create_app(settings).server, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            result = load.run(f"http://127.0.0.1:{server.server_port}", visitors=2, seconds=2, server_pid=None)
        finally:
            server.shutdown()
    assert sorted(result["pairs"]) == ["cifar10/mlp", "mnist/linear"]
    assert result["errors"] == 0 and result["requests"] > 20
    assert {"heatmap", "cell click", "weights"} <= set(result["per_callback"])
    assert "| heatmap |" in load.table(result)


def test_client_reads_lengths_chunks_encodings_and_closed_connections():
    """The visitors' socket client against a server that answers in each way HTTP/1.1 allows."""
    import gzip
    import json
    import socket

    import brotli

    body = json.dumps({"response": {"x": {"y": list(range(200))}}}).encode()
    answers = [
        b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body),
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n"
        % (10, body[:10], len(body) - 10, body[10:]),
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n%s"
        % (len(gzip.compress(body)), gzip.compress(body)),
        b"HTTP/1.1 200 OK\r\ncontent-encoding: br\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
        % (len(brotli.compress(body)), brotli.compress(body)),
        b"HTTP/1.1 400 BAD REQUEST\r\nContent-Length: 3\r\n\r\nbad",
    ]
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve():
        conn = listener.accept()[0]
        for n, answer in enumerate(answers):
            if n == 4:  # the client opens a new connection after "Connection: close"
                conn.close()
                conn = listener.accept()[0]
            request = b""
            while b"\r\n\r\n" not in request:
                request += conn.recv(65536)
            head, _, rest = request.partition(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            while len(rest) < length:
                rest += conn.recv(65536)
            conn.sendall(answer)
        conn.close()

    threading.Thread(target=serve, daemon=True).start()
    seen = []
    client = load.Client(f"http://127.0.0.1:{port}", lambda name, dt, ok: seen.append((name, ok)))
    for n in range(4):
        reply = client.callback(f"r{n}", [("x", "y")], [("a", "b", n)], parse=True)
        assert reply == {"x": {"y": list(range(200))}}
    assert client.callback("r4", [("x", "y")], [("a", "b", 4)], parse=True) == {}
    assert seen == [("r0", True), ("r1", True), ("r2", True), ("r3", True), ("r4", False)]
    listener.close()


def test_benchmark_command_smoke(mnist_only, tmp_path):
    """`python -m bench --quick` on tiny synthetic MNIST writes a well-formed report and JSON."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    from models.train import TrainConfig
    from models.zoo import Zoo

    settings, env = mnist_only
    Zoo(settings).train("mnist", "linear", TrainConfig(epochs=1, batch_size=32))
    out, js = tmp_path / "B.md", tmp_path / "b.json"
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.run([sys.executable, "-m", "bench", "--quick", "--data-dir", str(settings.data_dir),
                           "--model-dir", str(settings.model_dir), "--out", str(out), "--json", str(js),
                           "--only", "trainer", "table", "shapes", "jobs", "cold", "memory", "pss", "latency", "replay",
                           "bytes"],
                          cwd=root, env={**env, "LOOKINSIDE_MODEL_DIR": ""}, capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(js.read_text())
    assert {"machine", "trainer", "time_to_accuracy", "cold_start", "memory", "latency", "bytes", "job_memory",
            "memory_image"} <= set(result)
    job = result["job_memory"][0]
    assert (job["dataset"], job["arch"], job["state"]) == ("mnist", "linear", "done") and job["peak_rss_mb"] > 100
    preload, separate = result["memory_image"]
    assert preload["preload"] and not separate["preload"] and len(preload["worker_pss_mb"]) == 3
    assert 0 < preload["total_pss_mb"] < separate["total_pss_mb"]  # the workers share the master's pages
    assert result["machine"]["cores"] == os.cpu_count()
    # Networks built in the page: the width ladder, one wide net against its target, a click on each.
    assert [p["network"] for p in result["shape_ladder"]["points"]][:2] == ["mlp-1-relu", "mlp-2-relu"]
    wide = result["shape_speed"][0]
    assert (wide["arch"], wide["target_accuracy"], wide["label"]) == ("mlp-100-relu", 0.975, "2-layer (100 hidden units, relu)")
    assert set(result["shape_clicks"]) == {"mlp", "mlp-100-relu"} and result["shape_clicks"]["mlp"]["n"] == 50
    assert "## Networks built in the page" in out.read_text()
    trainer = {row["arch"]: row for row in result["trainer"]}
    assert set(trainer) == {"linear", "mlp"} and trainer["linear"]["speedup_batch64"] > 0
    assert result["latency"]["sequential"]["cell click"]["n"] > 0
    # The stored responses measured on and off, one fresh server each (a refused request stops the run).
    assert [row["replay"] for row in result["replay"]] == [True, False]
    assert all(row["latency"]["sequential"]["dataset switch"]["n"] > 0 for row in result["replay"])
    assert result["bytes"]["cell_click_images"] > 0
    assert result["memory"]["difference_mb"] > 0 and result["memory"]["first_start_difference_mb"] > 0
    assert result["warm_up_s"] >= 0
    report = out.read_text()
    for heading in ("# Benchmarks", "## Training speed", "## Time to accuracy", "## Cold start",
                    "## Callback latency", "## Stored responses", "## Memory", "## Bytes on the wire", "## One memory image",
                    "## A training job's peak memory"):
        assert heading in report


def test_the_page_benchmark_counts_rounds_of_requests_and_reports_ratios_to_the_bare_page():
    from bench import page
    from bench.report import _page
    # Requests as (start, end): two that overlap are one round; one that starts after both answered, another.
    assert page.waves([(0, 10), (5, 12), (20, 30)]) == 2
    assert page.waves([(0, 10), (11, 20), (21, 30)]) == 3 and page.waves([]) == 0
    split = page.split({"ScriptDuration": 1.0, "LayoutDuration": 0.1, "RecalcStyleDuration": 0.1, "TaskDuration": 2.0},
                       {"ScriptDuration": 1.05, "LayoutDuration": 0.11, "RecalcStyleDuration": 0.12, "TaskDuration": 2.1})
    assert {k: round(v) for k, v in split.items()} == {"scripting": 50, "rendering": 30, "other": 20}
    runs = {"first_heatmap_ms": [300, 320, 900], "click_ms": [60, 70, 80], "click_requests": [1, 1, 1],
            "switch_ms": [100, 110, 120], "switch_requests": [1, 1, 1], "switch_waves": [1, 1, 1], "view_ms": [],
            "view_requests": [], "click_split": [split] * 3, "switch_split": [split] * 3}
    bare = page.summary(runs)
    assert bare["first_heatmap_ms"] == 320 and bare["click_ms"] == 70 and bare["click_ms_max"] == 80
    new = dict(bare, click_ms=210.0, switch_ms=150.0, click_requests=1.0, switch_requests=12.0)
    text = "\n".join(_page({"tries": 3, "bare": bare, "new": new}))
    assert "| cell click → its images painted (mousedown to frame) | 70 | 210 (3.0×) | ≤ 2.0× bare: **missed** |" in text
    assert "| dataset switch → new heatmap painted | 110 | 150 (1.4×) | ≤ 1.5× bare: met |" in text
    assert "| callback requests per dataset switch | 1 | 12 | ≤ 10: **missed** |" in text
