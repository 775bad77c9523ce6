"""The page as a visitor feels it, in headless Chromium: first heatmap, a cell click, a dataset switch and a
view change, each beside a bare Dash page doing the same (bench/bare.py), in the same run.

Every time is measured in the page (performance.now(), mousedown or the change to the frame after it
painted); requests are the callback POSTs the action set off, counted from the browser's resource timing;
the main thread's split comes from Chromium's own counters (DevTools protocol, Performance.getMetrics).

    python -m bench.page [--old REV] [--tries 8]     (LOOKINSIDE_DATA_DIR names the datasets)

--old serves that commit of this repository (git archive) beside this checkout, so old and new are
measured in one run.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from contextlib import ExitStack
from io import BytesIO
from pathlib import Path

from . import serving

ROOT = Path(__file__).resolve().parent.parent
CALLBACK = "_dash-update-component"

# Installed before any page script runs: notes when the heatmap first has cells, and counts callback POSTs.
PROBE = """
performance.setResourceTimingBufferSize(100000);
(function look() {
  const gd = document.querySelector('#confusion-graph .js-plotly-plot');
  if (gd && gd.querySelector('.heatmaplayer') && gd.querySelectorAll('.ytick text').length) {
    requestAnimationFrame(() => { window.__heatmapAt = window.__heatmapAt || performance.now(); });
    return;
  }
  requestAnimationFrame(look);
})();
"""

# Resolves with the ms from mousedown to the frame after the cell's new images have all decoded.
CLICK = """
const done = arguments[arguments.length - 1];
const panel = document.querySelector('#cell-samples');
const head = () => { const h = panel.querySelector('h3'); return h ? h.textContent : ''; };
// The tiles are drawn apart from the heading (assets/samples.js counts its drawings); the old page had none.
const drawn = () => { const t = panel.querySelector('#sample-tiles'); return t ? t.dataset.drawn : null; };
const before = head(), drawnBefore = drawn();
let t0 = null;
document.addEventListener('mousedown', () => { t0 = performance.now(); }, {once: true, capture: true});
const check = () => {
  const imgs = Array.from(panel.querySelectorAll('img'));
  if (t0 !== null && head() && head() !== before && (drawnBefore === null || drawn() !== drawnBefore) &&
      imgs.length && imgs.every(i => i.complete)) {
    requestAnimationFrame(() => requestAnimationFrame(() => done([t0, performance.now() - t0])));
  } else { setTimeout(check, 1); }
};
window.__armed = true;
check();
"""

# Sets the dataset as a visitor's choice would, and resolves once the heatmap shows the new classes.
SWITCH = """
const [dataset, done] = [arguments[0], arguments[arguments.length - 1]];
const labels = () => Array.from(document.querySelectorAll('#confusion-graph .ytick text'))
  .map(t => t.textContent).join('|');
const before = labels();
const t0 = performance.now();
window.dash_clientside.set_props('dataset-dropdown', {value: dataset});
const check = () => {
  const now = labels();
  if (now && now !== before && document.querySelector('#confusion-graph .heatmaplayer')) {
    requestAnimationFrame(() => requestAnimationFrame(() => done([t0, performance.now() - t0])));
  } else if (performance.now() - t0 > 30000) { done([t0, -1]); } else { setTimeout(check, 1); }
};
check();
"""

# Clicks a view's link and resolves once the view's first card has drawn something.
VIEW = """
const [link, card, done] = [arguments[0], arguments[1], arguments[arguments.length - 1]];
const t0 = performance.now();
document.getElementById(link).click();
const check = () => {
  const el = document.querySelector(card);
  if (el && el.querySelector('img, .js-plotly-plot .main-svg, .ag-row, p, li')) {
    requestAnimationFrame(() => requestAnimationFrame(() => done([t0, performance.now() - t0])));
  } else if (performance.now() - t0 > 30000) { done([t0, -1]); } else { setTimeout(check, 1); }
};
check();
"""

# Cells that hold images for every shipped MNIST network: the diagonal, and its most common confusions.
CELLS = ((0, 0), (5, 3), (1, 1), (4, 9), (2, 2), (7, 9), (3, 3), (9, 4), (8, 8), (2, 8))

CALLS_SINCE = """
return performance.getEntriesByType('resource').filter(e => e.name.includes('%s') && e.startTime >= arguments[0])
  .map(e => [e.startTime, e.responseEnd]);
""" % CALLBACK


def chrome():
    sys.path.insert(0, str(ROOT / "scripts"))
    from screenshot import chrome as make
    driver = make(1440, 1000)
    driver.set_script_timeout(60)
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": PROBE})
    driver.execute_cdp_cmd("Performance.enable", {})
    return driver


def metrics(driver) -> dict:
    found = driver.execute_cdp_cmd("Performance.getMetrics", {})["metrics"]
    return {m["name"]: m["value"] for m in found}


def split(before: dict, after: dict) -> dict:
    """The main thread's work one action set off, until its requests settled: scripting, style and layout,
    and its other tasks (parsing, painting, compositing, garbage collection)."""
    d = {k: (after.get(k, 0) - before.get(k, 0)) * 1000 for k in ("ScriptDuration", "LayoutDuration",
                                                                   "RecalcStyleDuration", "TaskDuration")}
    rendering = d["LayoutDuration"] + d["RecalcStyleDuration"]
    return {"scripting": d["ScriptDuration"], "rendering": rendering,
            "other": max(0.0, d["TaskDuration"] - d["ScriptDuration"] - rendering)}


def settle(driver, since: float, quiet_ms: float = 600, limit_s: float = 15) -> list:
    """The callback requests started since `since`, once none has started or been open for `quiet_ms`."""
    deadline = time.time() + limit_s
    seen = -1
    while time.time() < deadline:
        calls = driver.execute_script(CALLS_SINCE, since)
        now = driver.execute_script("return performance.now()")
        last = max([c[1] or now for c in calls] + [c[0] for c in calls], default=since)
        if len(calls) == seen and now - last > quiet_ms and all(c[1] for c in calls):
            return calls
        seen = len(calls)
        time.sleep(0.1)
    return driver.execute_script(CALLS_SINCE, since)


def cell_xy(driver, actual: int, predicted: int) -> tuple[int, int]:
    return tuple(int(v) for v in driver.execute_script("""
        const gd = document.querySelector('#confusion-graph .js-plotly-plot');
        gd.scrollIntoView({block: "center"});
        const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, box = gd.getBoundingClientRect();
        return [box.left + xa._offset + xa.d2p(arguments[1]), box.top + ya._offset + ya.d2p(arguments[0])];
    """, actual, predicted))


def wait_heatmap(driver, limit_s: float = 60) -> float:
    deadline = time.time() + limit_s
    while time.time() < deadline:
        at = driver.execute_script("return window.__heatmapAt || null")
        if at is not None:
            return at
        time.sleep(0.01)
    raise RuntimeError("the heatmap never painted")


def run_async(driver, script: str, *args) -> list:
    return driver.execute_async_script(script, *args)


def measure(base: str, tries: int = 8, views: tuple = ()) -> dict:
    """Every action `tries` times on the page at `base`; `views` are (link id, card selector) to change to."""
    from selenium.webdriver.common.actions.action_builder import ActionBuilder
    driver = chrome()
    out: dict = {"first_heatmap_ms": [], "click_ms": [], "click_requests": [], "switch_ms": [],
                 "switch_requests": [], "switch_waves": [], "view_ms": [], "view_requests": [],
                 "click_split": [], "switch_split": []}
    try:
        driver.get(base + "/")  # a first visit fills the browser's cache: every timed one is a second visit
        wait_heatmap(driver)
        for _ in range(tries):
            driver.get(base + "/")
            out["first_heatmap_ms"].append(wait_heatmap(driver))
        settle(driver, 0)
        for i in range(tries):
            actual, predicted = CELLS[i % len(CELLS)]
            x, y = cell_xy(driver, actual, predicted)
            driver.execute_script("window.__result = null; window.__armed = false;"
                                  "new Promise(r => { (function() {" + CLICK + "})(r); })"
                                  ".then(v => { window.__result = v; });")
            while not driver.execute_script("return window.__armed"):
                time.sleep(0.001)
            before = metrics(driver)
            actions = ActionBuilder(driver)
            actions.pointer_action.move_to_location(x, y).click()
            actions.perform()
            deadline = time.time() + 30
            while (result := driver.execute_script("return window.__result")) is None:
                if time.time() > deadline:
                    raise RuntimeError(f"the cell ({actual}, {predicted}) at {x},{y} never painted its images")
                time.sleep(0.002)
            t0, ms = result
            out["click_ms"].append(ms)
            out["click_requests"].append(len(settle(driver, t0)))
            out["click_split"].append(split(before, metrics(driver)))
        for i in range(tries):
            before = metrics(driver)
            t0, ms = run_async(driver, SWITCH, "fashion-mnist" if i % 2 == 0 else "mnist")
            if ms < 0:
                raise RuntimeError("the heatmap never showed the new dataset")
            calls = settle(driver, t0)
            out["switch_split"].append(split(before, metrics(driver)))
            out["switch_ms"].append(ms)
            out["switch_requests"].append(len(calls))
            out["switch_waves"].append(waves(calls))
        for i in range(tries if views else 0):
            link, card = views[i % len(views)]
            t0, ms = run_async(driver, VIEW, link, card)
            if ms < 0:
                raise RuntimeError(f"the view of {link} never painted {card}")
            out["view_ms"].append(ms)
            out["view_requests"].append(len(settle(driver, t0)))
    finally:
        driver.quit()
    return out


def waves(calls: list) -> int:
    """How many rounds of requests: a request that starts after an earlier one answered begins a new round."""
    rounds, open_until = 0, -1.0
    for start, end in sorted(calls):
        if start > open_until:
            rounds += 1
        open_until = max(open_until, end) if start <= open_until else end
    return rounds


def summary(found: dict) -> dict:
    med = {k: round(statistics.median(v), 1) for k, v in found.items() if v and not isinstance(v[0], dict)}
    for key in ("click_split", "switch_split"):
        if found[key]:
            med[key] = {part: round(statistics.median(s[part] for s in found[key]), 1) for part in found[key][0]}
    med["click_ms_max"] = round(max(found["click_ms"]), 1)
    return med


def old_tree(rev: str, into: Path) -> Path:
    """This repository's files at commit `rev`, unpacked into `into`."""
    data = subprocess.run(["git", "archive", rev], cwd=ROOT, check=True, capture_output=True).stdout
    with tarfile.open(fileobj=BytesIO(data)) as tar:
        tar.extractall(into, filter="data")
    return into


def serve_app(stack: ExitStack, tree: Path, env: dict) -> str:
    """`python -m app` from the source tree `tree`, warmed up; its address."""
    port = serving.free_port()
    proc, _ = stack.enter_context(serving.serve([sys.executable, "-m", "app", "--port", str(port), "--offline"],
                                                env, port, cwd=tree))
    serving.wait_200(port, proc)
    serving.wait_idle(proc)
    return f"http://127.0.0.1:{port}"


def serve_bare(stack: ExitStack, env: dict) -> str:
    """The bare Dash page (bench/bare.py); its address."""
    port = serving.free_port()
    proc, _ = stack.enter_context(serving.serve([sys.executable, "-m", "bench.bare", str(port)], env, port))
    serving.wait_200(port, proc)
    return f"http://127.0.0.1:{port}"


ROUNDS = 2  # turns each page takes

# The dashboard's views, as (link id, the first card's selector); the bare page has two.
VIEWS = (("view-link-layers", ".card-map"), ("view-link-core", ".card-confusion"))
BARE_VIEWS = (("view-link-other", ".card"), ("view-link-core", "#confusion-graph"))


def run(tries: int = 8, old: str | None = None, model_dir: Path | None = None) -> dict:
    work = Path(tempfile.mkdtemp(prefix="lookinside-page-"))
    models = work / "models"
    models.mkdir()
    for path in Path(model_dir or ROOT / "checkpoints").iterdir():  # checkpoints, timelines, evaluations
        if path.is_file() and path.suffix in (".pt", ".npz"):
            shutil.copy(path, models)
    env = {**os.environ, "LOOKINSIDE_MODEL_DIR": str(models), "LOOKINSIDE_OFFLINE": "1",
           "LOOKINSIDE_JOBS_DIR": str(work / "jobs"), "PYTHONPATH": ""}
    result = {"tries": tries}
    try:
        with ExitStack() as stack:
            pages = {"bare": (serve_bare(stack, {**env, "PYTHONPATH": str(ROOT)}), BARE_VIEWS)}
            pages["new"] = (serve_app(stack, ROOT, env), VIEWS)
            if old:
                tree = old_tree(old, work / "old")
                pages["old"] = (serve_app(stack, tree, {**env, "LOOKINSIDE_JOBS_DIR": str(work / "jobs-old")}), ())
                result["old_rev"] = old
            # The pages take turns, a few tries each, so that a slow spell of this shared machine falls on
            # all of them alike and the ratios stay fair.
            found: dict = {name: None for name in pages}
            rounds = max(1, min(ROUNDS, tries))
            for r in range(rounds):
                for name, (url, views) in pages.items():
                    print(f"[bench] page: {name}, round {r + 1} of {rounds}", file=sys.stderr, flush=True)
                    part = measure(url, tries // rounds + (1 if r < tries % rounds else 0), views)
                    found[name] = part if found[name] is None else {k: found[name][k] + v for k, v in part.items()}
            result.update({name: summary(f) for name, f in found.items()})
    finally:
        shutil.rmtree(work, ignore_errors=True)
    bare = result["bare"]
    for name in ("new", "old"):
        if name in result:
            result[name]["ratios"] = {k: round(result[name][k] / bare[k], 2) for k in
                                      ("click_ms", "switch_ms", "first_heatmap_ms", "view_ms")
                                      if k in result[name] and bare.get(k)}
    return result


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.page", description=__doc__.splitlines()[0])
    p.add_argument("--tries", type=int, default=8)
    p.add_argument("--old", help="a commit of this repository to measure beside this checkout")
    p.add_argument("--json", help="write the figures here too")
    args = p.parse_args(argv)
    result = run(args.tries, args.old)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
