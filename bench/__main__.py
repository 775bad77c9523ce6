"""`python -m bench`: every benchmark in one run; writes BENCHMARKS.md and a JSON file with the same figures.

    python -m bench [--data-dir DIR] [--model-dir DIR] [--out BENCHMARKS.md] [--json benchmarks.json] [--quick]

--quick trains only MNIST's linear net for the time-to-accuracy table and runs fewer requests:
a smoke run. Comparisons are measured side by side in the same run, because these machines are noisy.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import psutil
import torch

from models import datasets
from models.config import Settings
from models.kinds import KINDS
from models.zoo import Zoo

from . import jobs, maps, page, serving, shapes, training
from .report import render

ROOT = Path(__file__).resolve().parent.parent
SECTIONS = ["trainer", "table", "shapes", "maps", "jobs", "cold", "memory", "pss", "latency", "replay", "bytes", "browser"]


def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else ""
    return {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "memory_gb": round(psutil.virtual_memory().total / 2 ** 30, 1), "torch": torch.__version__,
            "python": platform.python_version(), "date": time.strftime("%Y-%m-%d")}


def has_data(settings: Settings, name: str) -> bool:
    try:
        datasets.load(name, False, replace(settings, offline=True))
    except datasets.DataError:
        return False
    return True


def ready_pairs(settings: Settings, model_dir: Path) -> list[tuple[str, str]]:
    return [(name, a) for name in datasets.DATASETS if has_data(settings, name)
            for a in KINDS if (model_dir / f"{name}-{a}.pt").exists()]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    p.add_argument("--data-dir")
    p.add_argument("--model-dir", default=str(ROOT / "checkpoints"), help="checkpoints to serve (copied first)")
    p.add_argument("--out", default=str(ROOT / "BENCHMARKS.md"))
    p.add_argument("--json", default=str(ROOT / "benchmarks.json"))
    p.add_argument("--quick", action="store_true")
    p.add_argument("--job-seconds", type=float, help="stop each job of the job-memory section after this long")
    p.add_argument("--old", help="a commit of this repository whose page the browser section measures beside this one")
    p.add_argument("--only", nargs="+", choices=SECTIONS, default=SECTIONS,
                   help="run only these sections (the report then shows only them)")
    args = p.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="lookinside-bench-"))
    served = work / "models"
    served.mkdir()
    # Every section names its own folder, read and written alone: no shipped layer beneath it.
    settings = Settings.resolve(args.data_dir, served, True)
    for ckpt in Path(args.model_dir).glob("*.pt"):
        shutil.copy(ckpt, served)
    env = {**os.environ, "LOOKINSIDE_DATA_DIR": str(settings.data_dir), "LOOKINSIDE_MODEL_DIR": str(served),
           "LOOKINSIDE_OFFLINE": "1", "LOOKINSIDE_JOBS_DIR": str(work / "jobs")}
    result = {"machine": machine(), "quick": args.quick}

    only = set(args.only)

    def save():  # after every section, so a failure late in a long run loses nothing measured
        Path(args.json).write_text(json.dumps(result, indent=2))
        Path(args.out).write_text(render(result))

    if "trainer" in only:
        step("trainer against the conventional DataLoader loop")
        result["trainer"] = training.trainer_comparison(settings, epochs=1 if args.quick else None)
        save()
    if "table" in only:
        step("time to accuracy")
        pairs = [("mnist", "linear")] if args.quick else [(d, a) for d in datasets.DATASETS for a in KINDS]
        result["time_to_accuracy"] = training.time_to_accuracy(replace(settings, model_dir=work / "scratch"), pairs)
        save()
    if "shapes" in only and has_data(settings, "mnist"):
        step("networks built in the page: the width ladder, wide nets, a cell click on one")
        ladder_dir, wide_dir = work / "ladder", work / "wide"
        result["shape_ladder"] = shapes.width_ladder(settings, ladder_dir)
        save()
        rows = shapes.WIDE[:1] if args.quick else [p for p in shapes.WIDE if has_data(settings, p[0])]
        result["shape_speed"] = shapes.time_to_accuracy(settings, wide_dir, rows)
        save()
        for path in ladder_dir.glob("mnist-mlp.*"):
            shutil.copy(path, wide_dir)
        nets = tuple(n for n in ("mlp", "mlp-100-relu", "mlp-800-relu") if (wide_dir / f"mnist-{n}.pt").exists())
        result["shape_clicks"] = shapes.clicks(replace(settings, model_dir=wide_dir), nets, n=50 if args.quick else 200)
        save()
    if "maps" in only and has_data(settings, "mnist") and (served / "mnist-mlp.pt").exists():
        step("what each layer sees: the map, PCA, UMAP, nearest images, units off, the table")
        shipped = replace(settings, model_dir=work / "maps")
        shipped.model_dir.mkdir()
        for path in Path(args.model_dir).glob("mnist-*"):
            shutil.copy(path, shipped.model_dir)
        result["maps"] = maps.server(shipped, n=30 if args.quick else 200)
        save()
        result["maps"]["umap_seconds"] = maps.umap_seconds(shipped)
        save()
        try:
            result["maps"]["browser"] = maps.browser(shipped, rounds=2 if args.quick else 6)
        except Exception as e:  # a browser that fails must not cost the other numbers
            result["maps"]["browser_error"] = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        save()
    if "jobs" in only:
        step("a training job's peak memory")
        pairs = [("mnist", "linear")] if args.quick else [(d, a) for d in datasets.DATASETS for a in KINDS]
        result["job_memory"] = jobs.peak_memory(settings, [p for p in pairs if has_data(settings, p[0])],
                                                limit_s=args.job_seconds)
        save()
    if "cold" in only:
        step("cold start")
        result["cold_start"] = {"shipped_checkpoints_first_start": serving.cold_start(env, served),
                                "shipped_checkpoints_second_start": serving.cold_start(env, served),
                                "empty_model_dir": serving.cold_start(env, work / "empty")}
        save()
    if "memory" in only:
        step("memory")
        # Before the evaluations are cached below: a first start that evaluates every checkpoint itself.
        first = work / "first-start"
        first.mkdir()
        for ckpt in Path(args.model_dir).glob("*.pt"):
            shutil.copy(ckpt, first)
        first_start = serving.memory(env, first)
    if only & {"memory", "latency", "replay", "bytes", "browser", "pss"}:
        # Steady state: every served checkpoint evaluated before a server starts, as after its first start.
        zoo = Zoo(replace(settings, model_dir=served))
        for name, arch in ready_pairs(settings, served):
            zoo.evaluate(zoo.load(name, arch))
    if "memory" in only:
        result["memory"] = dict(serving.memory(env, served), first_start_difference_mb=first_start["difference_mb"])
        save()
    if "pss" in only:
        step("one memory image: total PSS of gunicorn with and without preload")
        pairs = ready_pairs(settings, served)
        result["memory_image"] = [serving.memory_image(env, pairs, preload=True),
                                  serving.memory_image(env, pairs, preload=False)]
        save()
    if "replay" in only:
        step("callback latency with the stored responses (app/replay.py) on and off, alternating")
        result["replay"] = serving.replay_on_and_off(env, ready_pairs(settings, served), rounds=1 if args.quick else 3,
                                                     n=40 if args.quick else 200)
        save()
    if "browser" in only:
        step("the page in headless Chromium, beside a bare Dash page" + (f" and {args.old}" if args.old else ""))
        try:
            result["page"] = page.run(tries=3 if args.quick else 8, old=args.old, model_dir=served)
        except Exception as e:  # a browser that fails must not cost the other numbers
            result["browser_error"] = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        save()
    if only & {"latency", "bytes"}:
        port = serving.free_port()
        cmd = [sys.executable, "-m", "gunicorn", "--workers", "3", "--threads", "4", "--bind",
               f"127.0.0.1:{port}", "--timeout", "120", "app:server"]
        with serving.serve(cmd, env, port) as (proc, _):
            serving.wait_200(port, proc)
            result["warm_up_s"] = round(serving.wait_idle(proc), 1)
            if "latency" in only:
                step("callback latency")
                result["latency"] = serving.latency(port, ready_pairs(settings, served), n=40 if args.quick else 200)
                save()
            if "bytes" in only:
                step("bytes")
                result["bytes"] = serving.wire_bytes(port, ("mnist", "linear"))
                save()
    shutil.rmtree(work, ignore_errors=True)
    save()
    print(f"wrote {args.out} and {args.json}")
    return 0


def step(what: str) -> None:
    print(f"[bench] {what}…", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
