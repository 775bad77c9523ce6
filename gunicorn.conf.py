"""gunicorn's settings for Looking Inside (read from the working folder): one memory image for every worker.

The master loads torch, the datasets, the networks and their thumbnails once, draws what a first visit
asks for, and freezes the heap (gc.freeze) before it forks; the workers then share those pages instead
of holding a copy each. The master does this on one torch thread, so that no OpenMP thread pool exists
at the fork (a pool does not survive one); each worker gets its threads back after it.
"""
import os

preload_app = True
os.environ["LOOKINSIDE_PRELOAD"] = "1"  # app/__init__.py: warm the app up in the master, before the fork


def post_fork(server, worker):
    import torch
    torch.set_num_threads(int(os.environ.get("LOOKINSIDE_WORKER_THREADS", os.cpu_count() or 1)))
