"""gunicorn's settings for Looking Inside (read from the working folder): one memory image for every worker.

The master loads torch, the datasets, the networks and their thumbnails once, draws what a first visit
asks for, and freezes the heap (gc.freeze) before it forks; the workers then share those pages instead
of holding a copy each. The master does this on one torch thread, so that no OpenMP thread pool exists
at the fork (a pool does not survive one); each worker gets its threads back after it.
"""
import ctypes
import os

from app import log_to_stderr

preload_app = True
os.environ["LOOKINSIDE_PRELOAD"] = "1"  # app/__init__.py: warm the app up in the master, before the fork
# glibc gives each thread that allocates its own 64 MB arena, and frees little of it back: 4 request threads
# held 18 to 30 arenas per worker (0.9 to 1.7 GB). Two per process hold what the features need. glibc reads
# the variable only when a process starts, so the master (and the workers it forks) is told by mallopt; the
# jobs' processes inherit the variable.
ARENAS = int(os.environ.setdefault("MALLOC_ARENA_MAX", "2"))
# Past 1 MB an allocation is its own mapping, given back whole when freed: glibc otherwise raises that threshold
# to the largest block freed (up to 32 MB), and a layer's batches then stay behind in the heap, fragmented.
MMAP_FROM = 1 << 20
try:
    libc = ctypes.CDLL(None)
    libc.mallopt(-8, ARENAS)  # M_ARENA_MAX
    libc.mallopt(-3, MMAP_FROM)  # M_MMAP_THRESHOLD (fixed, so no longer raised as blocks are freed)
except (OSError, AttributeError):  # not glibc: its allocator has its own rules
    pass
# The dashboard's lines (jobs queued, refused, started, ended, pruned; warnings) at INFO, with level and time
# like gunicorn's own, in the master and, inherited through the fork, in every worker.
log_to_stderr()


def post_fork(server, worker):
    import torch
    torch.set_num_threads(int(os.environ.get("LOOKINSIDE_WORKER_THREADS", os.cpu_count() or 1)))
