"""Networks built in the page: time to accuracy of wide nets, the ladder's wall time, and a cell click on one."""
from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from models import kinds, ladder
from models.config import Settings
from models.zoo import Zoo

from . import training
from .serving import cell_click_body

# Wide and deep nets built in the page, with the targets (accuracy, seconds) where it set one.
WIDE = [("mnist", "mlp-100-relu"), ("mnist", "mlp-800-relu"), ("cifar10", "mlp-200-relu"), ("cifar10", "mlp-800-relu"),
        ("cifar10", "mlp-512-256-relu")]
TARGETS = {("mnist", "mlp-100-relu"): (0.975, 20), ("mnist", "mlp-800-relu"): (0.98, 120)}


def time_to_accuracy(settings: Settings, scratch: Path, pairs=WIDE) -> list[dict]:
    """Train each network from scratch with its shape's defaults (as the page does), labelled as the page does."""
    rows = training.time_to_accuracy(replace(settings, model_dir=scratch), pairs, TARGETS)
    return [{**row, "label": kinds.parse(row["arch"]).label} for row in rows]


def width_ladder(settings: Settings, scratch: Path, dataset: str = "mnist") -> dict:
    """One hidden layer of 1 to 200 units, each trained and evaluated one after the other as the ladder's
    job does it: the wall time in all (loading, snapshots and evaluation included) and each net's figures."""
    zoo, points = Zoo(replace(settings, model_dir=scratch)), []
    began = time.perf_counter()
    for network in ladder.by_width():
        ev = zoo.evaluation(dataset, network)
        m = zoo.load(dataset, network).metrics
        points.append({"network": network, "accuracy": ev.accuracy, "seconds": m["train_seconds"]})
    wall = time.perf_counter() - began
    return {"dataset": dataset, "wall_seconds": round(wall, 1), "train_seconds": round(sum(p["seconds"] for p in points), 1),
            "points": points, "target_seconds": 90, "meets_target": wall <= 90}


def clicks(settings: Settings, networks=("mlp", "mlp-100-relu", "mlp-800-relu"), n: int = 200) -> dict:
    """A cell click's server time, one at a time, on a shipped net and on networks built in the page:
    the same request for each, alternating in one run (Flask's test client, no network in between)."""
    from app.main import create_app
    from app.state import screen

    app = create_app(settings, replay=False)
    client, resolve = app.server.test_client(), app.lookinside_callbacks["resolve"]
    views = {net: screen(resolve("mnist", net)["resolved"], None, "mnist", net) for net in networks}
    times: dict = {net: [] for net in networks}
    rng = np.random.default_rng(0)
    for i in range(n * len(networks)):
        net = networks[i % len(networks)]
        a, p = (int(v) for v in rng.integers(0, 10, 2))
        body = cell_click_body(views[net], {"actual": a, "predicted": p})
        began = time.perf_counter()
        reply = client.post("/_dash-update-component", data=json.dumps(body), content_type="application/json")
        elapsed = time.perf_counter() - began
        if reply.status_code not in (200, 204):
            raise RuntimeError(f"the cell click on {net} was answered {reply.status_code}")
        times[net].append(elapsed)
    return {net: {"label": kinds.parse(net).label, "n": len(v), "p50_ms": round(float(np.percentile(v, 50)) * 1000, 2),
                  "p95_ms": round(float(np.percentile(v, 95)) * 1000, 2)} for net, v in times.items()}
