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
