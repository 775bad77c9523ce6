"""BENCHMARKS.md from one benchmark run's figures, with each target and whether it was met."""
from __future__ import annotations


def _mark(ok) -> str:
    return "–" if ok is None else ("met" if ok else "**missed**")


def render(r: dict) -> str:
    m = r["machine"]
    out = ["# Benchmarks", "",
           f"One run of `python -m bench`{' --quick (a smoke run: numbers not representative)' if r['quick'] else ''}"
           f" on {m['date']}: {m['cpu']}, {m['cores']} cores ({m['torch_threads']} torch threads), "
           f"{m['memory_gb']} GiB, Python {m['python']}, torch {m['torch']}. Comparisons were measured side by "
           "side in this one run.", ""]

    if "trainer" in r:
        out += _trainer(r)
    if "time_to_accuracy" in r:
        out += _table(r)
    if "shape_ladder" in r or "shape_speed" in r:
        out += _shapes(r)
    if "maps" in r:
        out += _maps(r)
    if "cold_start" in r:
        out += _cold(r)
    if "latency" in r:
        out += _latency(r)
    if "replay" in r:
        out += _replay(r)
    if "page" in r:
        out += _page(r["page"])
    elif "browser_error" in r:
        out += ["", "## In a real browser (headless Chromium)", "", f"Not measured: {r['browser_error']}"]
    if "memory" in r:
        out += _memory(r)
    if "memory_image" in r:
        out += _memory_image(r)
    if "job_memory" in r:
        out += _job_memory(r)
    if "bytes" in r:
        out += _bytes(r)
    return "\n".join(out + [""])


def _trainer(r: dict) -> list[str]:
    out = ["## Training speed against the conventional loop", "",
            "The PyTorch MNIST example's data path (torchvision dataset, `ToTensor()` + `Normalize`, a "
            "`DataLoader` with batch size 64) against the project's trainer (uint8 tensors in memory, batches "
            "indexed out and normalised on the fly), on MNIST with the same model, the same epochs (the project's "
            "default for the net), optimiser and schedule. *Ours, batch 64* isolates the data path; *ours, default "
            "batch* is the trainer as it ships.",
            "", "| net | epochs | conventional s/epoch | ours, batch 64 | ours, default batch | speed-up (batch 64) "
                "| speed-up (default) | accuracy conv. / ours 64 / ours default | target ≥ 30× at ≥ accuracy |",
            "|---|---|---|---|---|---|---|---|---|"]
    for row in r["trainer"]:
        c, o, d = row["conventional"], row["ours_batch64"], row["ours_default_batch"]
        ok = row["speedup_default"] >= 30 and d["accuracy"] >= c["accuracy"] - 1e-9
        out.append(f"| {row['arch']} | {row['epochs']} | {c['seconds_per_epoch']:.2f} | {o['seconds_per_epoch']:.3f}"
                   f" | {d['seconds_per_epoch']:.3f} (batch {d['batch_size']}) | {row['speedup_batch64']:.0f}× | "
                   f"{row['speedup_default']:.0f}× | {100 * c['accuracy']:.2f}% / {100 * o['accuracy']:.2f}% / "
                   f"{100 * d['accuracy']:.2f}% | {_mark(ok)} |")
    return out


def _goal(row: dict) -> str:
    return (f"≥ {100 * row['target_accuracy']:.1f}% in ≤ {row['target_seconds']} s"
            if row.get("target_accuracy") else "report")


def _table(r: dict) -> list[str]:
    out = ["", "## Time to accuracy (default settings, test split)", "",
            "| dataset | net | accuracy | training time | target | | template–class-mean correlation |",
            "|---|---|---|---|---|---|---|"]
    for row in r["time_to_accuracy"]:
        goal = _goal(row)
        if "error" in row:
            out.append(f"| {row['dataset']} | {row['arch']} | not available: {row['error']} | | {goal} | | |")
        else:
            corr = row.get("template_correlation")
            out.append(f"| {row['dataset']} | {row['arch']} | {100 * row['accuracy']:.2f}% | {row['seconds']:.1f} s "
                       f"| {goal} | {_mark(row.get('meets_target'))} | {'' if corr is None else f'{corr:.3f}'} |")
    return out


def _shapes(r: dict) -> list[str]:
    out = ["", "## Networks built in the page", ""]
    if "shape_ladder" in r:
        lad = r["shape_ladder"]
        out += [f"The {lad['dataset']} ladder of one hidden layer (1 to 200 ReLU units), trained and evaluated one "
                f"after the other as the ladder's job does: **{lad['wall_seconds']:.0f} s** in all "
                f"({lad['train_seconds']:.0f} s of it training); target ≤ {lad['target_seconds']} s: "
                f"{_mark(lad['meets_target'])}.", "", "| network | test accuracy | training time |", "|---|---|---|"]
        out += [f"| {p['network']} | {100 * p['accuracy']:.2f}% | {p['seconds']:.1f} s |" for p in lad["points"]]
    if "shape_speed" in r:
        out += ["", "| dataset | network | test accuracy | training time | target | |", "|---|---|---|---|---|---|"]
        for row in r["shape_speed"]:
            goal = _goal(row)
            if "error" in row:
                out.append(f"| {row['dataset']} | {row['arch']} | not available: {row['error']} | | {goal} | |")
            else:
                out.append(f"| {row['dataset']} | {row['arch']} ({row['label']}) | {100 * row['accuracy']:.2f}% | "
                           f"{row['seconds']:.1f} s | {goal} | {_mark(row.get('meets_target'))} |")
    if "shape_clicks" in r:
        out += ["", "A cell click's server time, one at a time, alternating between the networks in one run:", "",
                "| network | p50 | p95 |", "|---|---|---|"]
        out += [f"| {net} ({c['label']}) | {c['p50_ms']:.1f} ms | {c['p95_ms']:.1f} ms |"
                for net, c in r["shape_clicks"].items()]
    return out


def _maps(r: dict) -> list[str]:
    m = r["maps"]

    def row(what, value, target, ok):
        return f"| {what} | {value} | {target} | {_mark(ok)} |"
    out = ["", "## What each layer sees: the map, nearest images, units off, the table", "",
           f"On {m['network']}, through Flask's test client (server time, no network), one request at a time:", "",
           "| action | measured | target | |", "|---|---|---|---|",
           row("switching the map's layer, cached (server)", f"p50 {m['layer_switch']['p50_ms']:.1f} ms, "
               f"p95 {m['layer_switch']['p95_ms']:.1f} ms", "p95 ≤ 50 ms", m["layer_switch"]["p95_ms"] <= 50)]
    if "browser" in m:
        b = m["browser"]
        out.append(row("switching the map's layer, cached (browser paint of 10,000 points)",
                       f"median {b['layer_paint_ms_median']} ms, max {b['layer_paint_ms_max']} ms", "≤ 500 ms",
                       b["layer_paint_ms_max"] <= 500))
    slowest = max(m["pca_seconds"].values())
    out.append(row("PCA of a layer, computed", ", ".join(f"{k}: {v:.2f} s" for k, v in m["pca_seconds"].items()),
                   "≤ 1 s", slowest <= 1))
    if "umap_seconds" in m:
        first, second = m["umap_seconds"]
        out.append(row("UMAP of 10,000 points (a fresh job process)", f"{first:.1f} s, then {second:.1f} s",
                       "≤ 90 s", max(first, second) <= 90))
    if "browser" in m:
        b = m["browser"]
        first = f"; the page's very first tiles {b['lasso_first_ms']} ms" if "lasso_first_ms" in b else ""
        out.append(row("~500 points picked on the map → tiles painted",
                       f"median {b['lasso_500_tiles_ms_median']} ms, max {b['lasso_500_tiles_ms_max']} ms{first}",
                       "≤ 300 ms", b["lasso_500_tiles_ms_max"] <= 300))
    elif "browser_error" in m:
        out.append(row("browser paints", f"not measured: {m['browser_error']}", "", None))
    worst = max(v["p95_ms"] for v in m["nearest"].values())
    out.append(row("nearest 8 training images (of 60,000)", ", ".join(
        f"{k}: p50 {v['p50_ms']:.1f} ms, p95 {v['p95_ms']:.1f} ms" for k, v in m["nearest"].items()), "≤ 100 ms",
        worst <= 100))
    out.append(row("switching hidden units off (heatmap, server)", f"p50 {m['switch_off']['p50_ms']:.1f} ms, "
                   f"p95 {m['switch_off']['p95_ms']:.1f} ms", "≤ 100 ms", m["switch_off"]["p95_ms"] <= 100))
    out.append(row("a table page of 50 rows (sorted, filtered; server)", f"p50 {m['table_page']['p50_ms']:.1f} ms, "
                   f"p95 {m['table_page']['p95_ms']:.1f} ms", "≤ 50 ms", m["table_page"]["p95_ms"] <= 50))
    size = m["map_bytes"]
    out.append(row("a map's response (10,000 points, no thumbnails)", f"{size['br'] / 1024:.0f} KB brotli, "
                   f"{size['gzip'] / 1024:.0f} KB gzip ({size['raw'] / 1024:.0f} KB raw)", "< 400 KB compressed",
                   max(size["br"], size["gzip"]) < 400 * 1024))
    return out


def _cold(r: dict) -> list[str]:
    cs = r["cold_start"]
    first, second, empty = (cs["shipped_checkpoints_first_start"], cs["shipped_checkpoints_second_start"],
                            cs["empty_model_dir"])
    return ["", "## Cold start (`python -m app`, process start to first HTTP 200 on `/`)", "",
            "| model dir | first 200 | default pair ready | target |", "|---|---|---|---|",
            f"| shipped checkpoints, first start (evaluations computed) | {first['first_200_s']:.1f} s | "
            f"{first['dashboard_ready_s']:.1f} s | |",
            f"| shipped checkpoints, evaluations cached | {second['first_200_s']:.1f} s | "
            f"{second['dashboard_ready_s']:.1f} s | ≤ 6 s: {_mark(second['first_200_s'] <= 6)} |",
            f"| empty (downloads nothing here, trains mnist/linear) | {empty['first_200_s']:.1f} s | "
            f"{empty['dashboard_ready_s']:.1f} s | |"]


def _latency(r: dict) -> list[str]:
    out = ["", "## Callback latency (server side, through HTTP to gunicorn: 3 workers × 4 threads)", "",
            "A switch is what the page asks after a dropdown change: resolve, heatmap and weights, one after "
            "another. Clients send Chromium's Accept-Encoding (the server answers zstd) and run on the same cores as the server. "
            + (f"Measured once the workers had loaded the networks and encoded their thumbnails "
               f"({r['warm_up_s']} s after the first answer). " if "warm_up_s" in r else ""),
            "", "| interaction | clients | n | p50 | p95 | target |", "|---|---|---|---|---|---|"]
    targets = {"cell click": ("concurrent", 30), "dataset switch": ("", 150)}
    for mode, rows in r["latency"].items():
        for name, v in rows.items():
            goal = ""
            if name in targets and targets[name][0] in mode:
                goal = f"p95 ≤ {targets[name][1]} ms: {_mark(v['p95_ms'] <= targets[name][1])}"
            out.append(f"| {name} | {mode} | {v['n']} | {v['p50_ms']} ms | {v['p95_ms']} ms | {goal} |")
    return out


def _replay(r: dict) -> list[str]:
    out = ["", "## Stored responses (app/replay.py) on and off, alternating in one run", "",
           "The latency section's requests against a fresh gunicorn (3 workers × 4 threads) for each row; p50 / p95 "
           "in ms. A cell click is the one request the browser sends for it.", "",
           "| round | replay | cell click, one at a time | cell click, 20 clients | dataset switch, 20 clients | "
           "normalization toggle, 20 clients |", "|---|---|---|---|---|---|"]
    for row in r["replay"]:
        lat = row["latency"]
        seq, many = lat["sequential"], next(v for k, v in lat.items() if k != "sequential")

        def cell(rows, name):
            return f"{rows[name]['p50_ms']} / {rows[name]['p95_ms']}"
        out.append(f"| {row['round'] + 1} | {'on' if row['replay'] else 'off'} | {cell(seq, 'cell click')} | "
                   f"{cell(many, 'cell click')} | {cell(many, 'dataset switch')} | {cell(many, 'normalization toggle')} |")
    return out


# The page's figures against a bare Dash page doing the same, and the targets of issue 17 (ratios, counts).
PAGE_ROWS = [("first_heatmap_ms", "navigation → first heatmap painted", 1.5),
             ("click_ms", "cell click → its images painted (mousedown to frame)", 2.0),
             ("switch_ms", "dataset switch → new heatmap painted", 1.5),
             ("view_ms", "view change → its first card painted", None)]


def _page(p: dict) -> list[str]:
    pages = [name for name in ("old", "new") if name in p]
    out = ["", "## The page in a real browser (headless Chromium, 1440×1000)", "",
           f"Medians of {p['tries']} tries of each action, measured in the page (`performance.now()`), on this "
           "dashboard and on a bare Dash page with the same element ids (bench/bare.py: one heatmap callback, one "
           "callback returning a heading and 24 images, two views), in the same run"
           + (f"; *old* is commit {p['old_rev']}, served beside it." if "old_rev" in p else "."), "",
           "| measure | bare Dash | " + " | ".join(f"{n} (ms, × bare)" for n in pages) + " | target |",
           "|---|---|" + "---|" * len(pages) + "---|"]
    for key, name, target in PAGE_ROWS:
        bare = p["bare"].get(key)
        cells = []
        for n in pages:
            value = p[n].get(key)
            cells.append(f"{value:.0f} ({value / bare:.1f}×)" if value is not None and bare else "–")
        verdict = "–" if target is None or not bare or key not in p.get("new", {}) else \
            f"≤ {target}× bare: {_mark(p['new'][key] <= target * bare)}"
        out.append(f"| {name} | {'–' if bare is None else f'{bare:.0f}'} | " + " | ".join(cells) + f" | {verdict} |")
    for key, name, target in (("click_requests", "callback requests per click", 2),
                              ("switch_requests", "callback requests per dataset switch", 10),
                              ("switch_waves", "rounds of requests per dataset switch", 2),
                              ("view_requests", "callback requests per view change", None)):
        cells = [f"{p[n][key]:.0f}" if key in p[n] else "–" for n in pages]
        verdict = "–" if target is None or key not in p.get("new", {}) else \
            f"≤ {target}: {_mark(p['new'][key] <= target)}"
        out.append(f"| {name} | {p['bare'].get(key, 0):.0f} | " + " | ".join(cells) + f" | {verdict} |")
    out += ["", "Where the main thread's time went (Chromium's own counters, DevTools protocol `Performance.getMetrics`, "
            "from mousedown or the switch until its requests settled; median ms):", "",
            "| action | page | scripting | style and layout | other tasks (paint, parse, GC) |", "|---|---|---|---|---|"]
    for action in ("click", "switch"):
        for n in ("bare", *pages):
            part = p[n].get(f"{action}_split")
            if part:
                out.append(f"| {action} | {n} | {part['scripting']:.0f} | {part['rendering']:.0f} | {part['other']:.0f} |")
    return out


def _memory(r: dict) -> list[str]:
    mem = r["memory"]
    out = ["", "## Memory", "",
            f"`python -m app` with {', '.join(mem['datasets_loaded'])} loaded: {mem['server_rss_mb']} MB resident; "
            f"a bare `import torch`: {mem['bare_torch_rss_mb']} MB; difference {mem['difference_mb']} MB "
            f"(target ≤ 600 MB: {_mark(mem['difference_mb'] <= 600)}). Measured once the server has gone quiet, "
            f"with the evaluations on disk as after a first start."]
    if "first_start_difference_mb" in mem:
        out += ["", f"On its very first start the server evaluates every checkpoint itself; freed memory stays "
                f"with the process then, and the same measurement gave {mem['first_start_difference_mb']} MB. "
                f"That figure moves from run to run (411 to 605 MB in the runs made while writing this)."]
    return out


def _bytes(r: dict) -> list[str]:
    by = r["bytes"]
    return ["", "## Bytes on the wire", "",
            f"- initial page load: {by['page_load_bytes'] / 1024:.0f} KiB in {by['page_load_files']} responses "
            f"(encodings: {', '.join(by['page_encodings'])})",
            f"- one cell click ({by['cell_click_images']} images): {by['cell_click_bytes'] / 1024:.1f} KiB as sent "
            f"({by['cell_click_encoding']}), {by['cell_click_uncompressed_bytes'] / 1024:.1f} KiB uncompressed "
            f"(target ≤ 100 KB: {_mark(by['cell_click_bytes'] <= 100_000)})"]


def _memory_image(r: dict) -> list[str]:
    out = ["", "## One memory image: gunicorn's total PSS (master and 3 workers)", "",
           "Proportional set size from `/proc/PID/smaps_rollup`, summed over the master and its workers, once every "
           "worker has drawn every ready network (heatmap and a cell's images). *Preload* is `gunicorn.conf.py`: the "
           "master loads torch, the datasets and the networks and freezes its heap before it forks. Without it (an "
           "empty config) each worker loads its own copy.", "",
           "| mode | total PSS | master RSS | workers' RSS | workers' PSS | target ≤ 900 MB |", "|---|---|---|---|---|---|"]
    for row in r["memory_image"]:
        ok = row["total_pss_mb"] <= 900 if row["preload"] else None
        out.append(f"| {'preload' if row['preload'] else 'no preload (before)'} | {row['total_pss_mb']} MB | "
                   f"{row['master_rss_mb']} MB | {', '.join(map(str, row['worker_rss_mb']))} MB | "
                   f"{', '.join(map(str, row['worker_pss_mb']))} MB | {_mark(ok)} |")
    return out


def _job_memory(r: dict) -> list[str]:
    out = ["", "## A training job's peak memory", "",
           "Each network trained from scratch with its default settings by the real job runner (`python -m "
           "app.runner`, a fresh process), its peak resident size (VmHWM) sampled every 0.2 s.", "",
           "| dataset | net | peak RSS | wall time | outcome | target < 2 GB |", "|---|---|---|---|---|---|"]
    for row in r["job_memory"]:
        ok = row["peak_rss_mb"] < 2048 if row["state"] in ("done", "cancelled") else None
        outcome = (f"stopped after {row['limit_s']:.0f} s" if row.get("limit_s") else
                   f"{row['state']} {row.get('message') or ''}".strip())
        out.append(f"| {row['dataset']} | {row['arch']} | {row['peak_rss_mb']} MB | {row['seconds']:.0f} s | "
                   f"{outcome} | {_mark(ok)} |")
    return out
