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
    assert {"heatmap", "cell click (images)", "weights"} <= set(result["per_callback"])
    assert "| heatmap |" in load.table(result)


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
                           "--only", "trainer", "table", "cold", "memory", "latency", "bytes"],
                          cwd=root, env={**env, "LOOKINSIDE_MODEL_DIR": ""}, capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(js.read_text())
    assert {"machine", "trainer", "time_to_accuracy", "cold_start", "memory", "latency", "bytes"} <= set(result)
    assert result["machine"]["cores"] == os.cpu_count()
    trainer = {row["arch"]: row for row in result["trainer"]}
    assert set(trainer) == {"linear", "mlp"} and trainer["linear"]["speedup_batch64"] > 0
    assert result["latency"]["sequential"]["cell click"]["n"] > 0
    assert result["bytes"]["cell_click_images"] > 0
    report = out.read_text()
    for heading in ("# Benchmarks", "## Training speed", "## Time to accuracy", "## Cold start",
                    "## Callback latency", "## Memory", "## Bytes on the wire"):
        assert heading in report
