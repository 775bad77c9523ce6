"""What each layer sees (issue 16): the map's server time and size, PCA, UMAP, nearest training images,
switching units off, a table page, and the browser's paint of a map and of a lasso's tiles."""
from __future__ import annotations

import gzip
import itertools
import json
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from models import datasets, layers
from models.config import Settings
from models.zoo import Zoo

from .load import HEATMAP_OUTPUTS, HEATMAP_STATE, heatmap_inputs

ROOT = Path(__file__).resolve().parent.parent
DRAW = ("..state-embedding-base.data...embedding-note.children...embedding-separation.figure..."
        "embedding-compute.className..")


def _body(output: str, inputs: list, state: list = ()) -> str:
    names = output.strip(".").split("...")
    outputs = [dict(zip(("id", "property"), name.rsplit(".", 1))) for name in names]
    return json.dumps({"output": output, "outputs": outputs[0] if len(outputs) == 1 else outputs,
                       "inputs": [{"id": i, "property": p, "value": v} for i, p, v in inputs],
                       "state": [{"id": i, "property": p, "value": v} for i, p, v in state],
                       "changedPropIds": [f"{inputs[0][0]}.{inputs[0][1]}"]})


def _ms(values) -> dict:
    return {"n": len(values), "p50_ms": round(1000 * float(np.percentile(values, 50)), 2),
            "p95_ms": round(1000 * float(np.percentile(values, 95)), 2)}


def _timed(client, body: str, n: int, headers=None) -> tuple[list[float], bytes]:
    times, reply = [], b""
    for _ in range(n):
        began = time.perf_counter()
        response = client.post("/_dash-update-component", data=body, content_type="application/json",
                               headers=headers or {})
        times.append(time.perf_counter() - began)
        if response.status_code != 200:
            raise RuntimeError(f"answered {response.status_code}: {response.get_data()[:200]!r}")
        reply = response.get_data()
    return times, reply


def server(settings: Settings, n: int = 100) -> dict:
    """Server-side times through Flask's test client (no network), on MNIST's shipped 2-layer net."""
    from app.main import create_app
    from app.state import screen

    Zoo(settings).evaluation("mnist", "mlp")  # checkpoints ship without their evaluations
    app = create_app(settings, replay=False)
    app.lookinside_limits.check = lambda name: None  # this measures the work; the limits are tested elsewhere
    client, cb = app.server.test_client(), app.lookinside_callbacks
    service = app.lookinside_service
    view_store = screen(cb["resolve"]("mnist", "mlp")["resolved"], None, "mnist", "mlp")
    view = service.shown(view_store)
    out: dict = {"network": "mnist/mlp (784-10-10)"}

    # PCA of each layer, computed (not cached), and the input layer of every dataset here.
    pca = {}
    for layer in ("hidden1", "logits"):
        x = service.representations.layer(view, layer)
        began = time.perf_counter()
        layers.pca(x)
        pca[f"mnist mlp {layer} ({x.shape[1]} units)"] = round(time.perf_counter() - began, 3)
    wide = np.random.default_rng(0).normal(size=(10_000, 800)).astype(np.float32)
    began = time.perf_counter()
    layers.pca(wide)
    pca["a layer of 800 units (random)"] = round(time.perf_counter() - began, 3)
    for name in datasets.DATASETS:
        try:
            images = datasets.load(name, False, replace(settings, offline=True)).images
        except datasets.DataError:
            continue
        x = layers.pixels(images).numpy()
        began = time.perf_counter()
        layers.pca(x)
        pca[f"{name} input ({x.shape[1]} pixels)"] = round(time.perf_counter() - began, 3)
    out["pca_seconds"] = pca

    # Switching the map's layer, once each is cached; the map's response size, compressed as a browser gets it.
    bodies = {layer: _body(DRAW, [("state-view", "data", view_store), ("embedding-layer", "value", layer),
                                  ("embedding-method", "value", "pca"), ("state-embedding-done", "data", None)])
              for layer in ("input", "hidden1", "logits")}
    for body in bodies.values():
        _timed(client, body, 1)
    times = []
    for i in range(n):
        times += _timed(client, bodies[("input", "hidden1", "logits")[i % 3]], 1)[0]
    out["layer_switch"] = _ms(times)
    sizes = {}
    for encoding in ("gzip", "br"):
        reply = client.post("/_dash-update-component", data=bodies["hidden1"], content_type="application/json",
                            headers={"Accept-Encoding": encoding})
        sizes[encoding] = len(reply.get_data())
    raw = client.post("/_dash-update-component", data=bodies["hidden1"], content_type="application/json").get_data()
    sizes["raw"] = len(raw)
    sizes["gzip_of_raw"] = len(gzip.compress(raw))
    out["map_bytes"] = sizes

    # Nearest training images: the search alone (index cached), and the callback.
    reps = service.representations
    for layer in ("input", "hidden1"):
        reps.nearest(view, layer, 0)
    rng = np.random.default_rng(1)
    nearest = {}
    for layer in ("input", "hidden1", "logits"):
        reps.nearest(view, layer, 0)
        ts = []
        for index in rng.integers(0, 10_000, n):
            began = time.perf_counter()
            reps.nearest(view, layer, int(index))
            ts.append(time.perf_counter() - began)
        nearest[layer] = _ms(ts)
    out["nearest"] = nearest

    # Switching hidden units off: the heatmap callback, a new set of units every time (nothing cached).
    ts = []
    combos = [list(c) for k in (1, 2, 3) for c in itertools.combinations(range(10), k)]
    for i in rng.permutation(len(combos))[:n]:
        units = combos[i]
        body = _body("..%s.." % "...".join(f"{i}.{p}" for i, p in HEATMAP_OUTPUTS),
                     heatmap_inputs(view_store, off={"network": "mlp", "units": units}), HEATMAP_STATE)
        ts += _timed(client, body, 1)[0]
    out["switch_off"] = _ms(ts)

    # A table page of 50 rows with thumbnails' addresses: sorted by loss, filtered, a new page each time.
    ts = []
    for i in range(n):
        request = {"startRow": 50 * (i % 20), "endRow": 50 * (i % 20) + 50,
                   "sortModel": [{"colId": "loss", "sort": "desc"}],
                   "filterModel": {"p_pred": {"filterType": "number", "type": "lessThan", "filter": 90 + i % 10}}}
        body = _body("..predictions-table.getRowsResponse...state-highlight.data...predictions-note.children..",
                     [("predictions-table", "getRowsRequest", request)],
                     [("state-view", "data", view_store), ("state-highlight", "data", None)])
        ts += _timed(client, body, 1)[0]
    out["table_page"] = _ms(ts)
    return out


def umap_seconds(settings: Settings) -> list[float]:
    """UMAP of MNIST's 10,000 test images in the 2-layer net's hidden layer, in a fresh process each time (as
    the job runs it): the first may include numba compiling its functions."""
    script = (
        "import sys, time; from pathlib import Path; from models.config import Settings; from models.zoo import Zoo;"
        "from models import datasets, layers; from app.background import umap_coordinates;"
        f"s = Settings(data_dir=Path({str(settings.data_dir)!r}), model_dir=Path({str(settings.model_dir)!r}), "
        "offline=True); c = Zoo(s).load('mnist', 'mlp'); t = datasets.load('mnist', False, s);"
        "x = layers.features(c.model, t.images, c.normalization)['hidden1']; b = time.perf_counter();"
        "umap_coordinates(x); print(time.perf_counter() - b)")
    found = []
    for _ in range(2):
        done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True)
        found.append(round(float(done.stdout.strip().splitlines()[-1]), 1))
    return found


PAINT = """
const done = arguments[arguments.length - 1];
const what = arguments[0], value = arguments[1];
const t0 = performance.now();
const gd = document.querySelector('#embedding-graph .js-plotly-plot');
if (what === 'layer') {
  const before = gd._fullLayout.xaxis.title.text;
  gd.on('plotly_afterplot', function check() {
    if (gd._fullLayout.xaxis.title.text !== before) {
      gd.removeListener('plotly_afterplot', check);
      requestAnimationFrame(() => done(performance.now() - t0));
    }
  });
  window.dash_clientside.set_props('embedding-layer', {value: value});
} else {
  const panel = document.querySelector('#cell-samples');
  window.dash_clientside.set_props('state-map-pick', {data: value});
  const check = () => {
    const head = panel.querySelector('h3');
    const imgs = Array.from(panel.querySelectorAll('img'));
    if (head && head.textContent.startsWith(value.length + ' images selected') && imgs.length &&
        imgs.every(i => i.complete)) {
      requestAnimationFrame(() => done(performance.now() - t0));
    } else { setTimeout(check, 2); }
  };
  check();
}
"""


def browser(settings: Settings, rounds: int = 6) -> dict:
    """The browser's side, against this process's server: a cached layer's map painted (10,000 WebGL points),
    and ~500 points picked on the map painted as tiles."""
    from werkzeug.serving import make_server

    from app.main import create_app, warm

    sys.path.insert(0, str(ROOT / "scripts"))
    from screenshot import chrome

    app = create_app(settings)
    warm(app)  # as a server does in the background from its start: thumbnails encoded, networks loaded
    httpd = make_server("127.0.0.1", 0, app.server, threaded=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    driver = chrome(1280, 900)
    driver.set_script_timeout(60)
    try:
        driver.get(f"http://127.0.0.1:{httpd.server_port}/?dataset=mnist&model=mlp")
        deadline = time.time() + 120
        while not driver.execute_script(
                "const gd = document.querySelector('#embedding-graph .js-plotly-plot');"
                "return !!(gd && gd._fullData && gd._fullData.some(t => t.meta && t.customdata))"):
            if time.time() > deadline:
                raise RuntimeError("the map never drew")
            time.sleep(0.05)
        driver.execute_script("document.querySelector('#embedding-graph').scrollIntoView({block: 'center'})")
        layer_ms = []
        for i in range(2 * rounds):
            layer = ("logits", "hidden1")[i % 2]
            ms = driver.execute_async_script(PAINT, "layer", layer)
            if i >= 2:  # the first two asked the server to compute; the rest are cached
                layer_ms.append(ms)
        rng = np.random.default_rng(2)
        lasso_ms = []
        for _ in range(rounds + 1):
            picked = sorted(int(v) for v in rng.choice(10_000, 500, replace=False))
            lasso_ms.append(driver.execute_async_script(PAINT, "pick", picked))
        first, lasso_ms = lasso_ms[0], lasso_ms[1:]  # the page's first tiles ever: React mounts the panel
        return {"layer_paint_ms_median": round(statistics.median(layer_ms)), "layer_paint_ms_max": round(max(layer_ms)),
                "lasso_500_tiles_ms_median": round(statistics.median(lasso_ms)),
                "lasso_500_tiles_ms_max": round(max(lasso_ms)), "lasso_first_ms": round(first), "rounds": rounds,
                "lasso_500_tiles_ms": [round(v) for v in lasso_ms], "layer_paint_ms": [round(v) for v in layer_ms]}
    finally:
        driver.quit()
        httpd.shutdown()
