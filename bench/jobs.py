"""A training job's peak memory: each pair trained from scratch by the real job runner, in its own process."""
from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from app.jobs import Queue, launch_process
from models.config import Settings


def _hwm_mb(pid: int) -> float | None:
    """The process's peak resident set size so far (VmHWM), or None once it has gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def peak_memory(settings: Settings, pairs: list[tuple[str, str]], limit_s: float | None = None) -> list[dict]:
    """Train each pair as a queued job (default settings, empty model dir); its runner's peak RSS and time.

    With `limit_s`, a job still training then is stopped (through the queue, as the Stop button does):
    its figure is the peak of loading the data, building the network and that much training.
    """
    rows = []
    for dataset, arch in pairs:
        work = Path(tempfile.mkdtemp(prefix="lookinside-job-"))
        queue = Queue(work / "jobs", slots=1, launch=launch_process)
        job = queue.submit(dataset, arch, "train", {"data_dir": str(settings.data_dir), "model_dir": str(work / "models"),
                                                    "offline": True, "device": "cpu"})[0]
        start, peak, pid = time.perf_counter(), 0.0, None
        stopped = False
        while (current := queue.get(job.id)).active:
            pid = pid or current.pid
            if pid:
                peak = max(peak, _hwm_mb(pid) or 0.0)
            if limit_s is not None and not stopped and time.perf_counter() - start > limit_s:
                stopped = queue.cancel(job.id)
            time.sleep(0.2)
        rows.append({"dataset": dataset, "arch": arch, "state": current.state, "peak_rss_mb": round(peak),
                     "seconds": round(time.perf_counter() - start, 1), "message": current.message,
                     "limit_s": limit_s if stopped else None})
        if pid:
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
    return rows
