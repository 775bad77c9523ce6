"""The deployment's one training queue: a small SQLite table that every web and job process shares.

A request for a network that is already queued or training joins that job, so everyone watches one
run. At most `slots` jobs run at once and `max_waiting` wait; past that a request is refused with one
sentence. Each job runs in a fresh interpreter (`python -m app.runner`), never in a process forked
from a web worker that has used torch: torch's OpenMP pool does not survive such a fork, and its jobs
hung for ever. With REDIS_URL set, the job is handed to a Celery worker instead (app/worker.py).

A running job holds a file lock for as long as its process lives, so a job whose process died (killed,
out of memory) is seen at the next look, marked failed with a sentence, and its slot given back.
"""
from __future__ import annotations

import contextlib
import fcntl
import functools
import json
import logging
import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Optional

log = logging.getLogger("lookinside")

PROJECT_DIR = Path(__file__).resolve().parent.parent
REDIS_ENV = "REDIS_URL"
JOBS_DIR_ENV = "LOOKINSIDE_JOBS_DIR"
SLOTS_ENV = "LOOKINSIDE_TRAIN_SLOTS"
WAITING_ENV = "LOOKINSIDE_TRAIN_QUEUE"
PER_ADDRESS_ENV = "LOOKINSIDE_JOBS_PER_ADDRESS"
MAX_WAITING = 8
PER_ADDRESS = 4  # active jobs one client address may have: a classroom behind one NAT shares them
START_GRACE = 120.0  # seconds a claimed job may take to start its process and take its lock
KEEP_FINISHED = 3600.0  # finished rows are kept this long, so late pollers still learn how a job ended
ACTIVE = ("queued", "running", "cancelling")
DIED = "The training process stopped before it finished (it was ended or ran out of memory); try again."

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY, dataset TEXT NOT NULL, target TEXT NOT NULL, network TEXT NOT NULL,
    mode TEXT NOT NULL, who TEXT NOT NULL, visitor TEXT NOT NULL, settings TEXT NOT NULL,
    state TEXT NOT NULL, created REAL NOT NULL, started REAL, finished REAL, pid INTEGER,
    progress TEXT, frame TEXT, frame_no INTEGER NOT NULL DEFAULT 0, result TEXT, message TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state, created);
"""
_ADDRESS_COLUMN = "ALTER TABLE jobs ADD COLUMN address TEXT NOT NULL DEFAULT ''"  # tables made before it


@dataclass(frozen=True)
class Target:
    """What identical requests join on: the network asked for (its kind, for a visitor's run), and for work on
    one of its checkpoints (app/background.py), that checkpoint and the layer or units it is about. Stored as
    one text column; `text` and `parse` are the only code that reads or writes that text."""
    network: str
    checkpoint: str = ""  # the first 12 characters of the checkpoint's id
    detail: str = ""  # a layer's key, or the units switched off ("0_3")

    def __post_init__(self) -> None:
        if any("|" in part for part in (self.network, self.checkpoint, self.detail)):
            raise ValueError(f"a job target's parts cannot hold '|': {self!r}")
        object.__setattr__(self, "checkpoint", self.checkpoint[:12])

    def text(self) -> str:
        return self.network if not (self.checkpoint or self.detail) else \
            f"{self.network}|{self.checkpoint}|{self.detail}"

    @classmethod
    def parse(cls, text: str) -> "Target":
        parts = text.split("|")
        return cls(parts[0]) if len(parts) != 3 else cls(*parts)


class Refused(Exception):
    """A training request that the bounds turn away; the message is the sentence the page shows."""


@dataclass(frozen=True)
class Job:
    id: str
    dataset: str
    target: Target  # what requests join on
    network: str  # what this job writes: the network itself, or the run's id
    mode: str  # a name in app/tasks.py's registry: what the job does, and what its progress says
    who: str  # "admin" or "visitor", for the log
    visitor: str
    settings: dict
    state: str  # queued, running, cancelling, done, failed, cancelled
    created: float
    started: Optional[float]
    finished: Optional[float]
    pid: Optional[int]
    progress: Optional[dict]
    frame: Optional[str]  # the latest live frame, as JSON text
    frame_no: int
    result: Optional[dict]
    message: str

    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    def handle(self) -> dict:
        """The small JSON a page keeps to poll this job."""
        return {"id": self.id, "dataset": self.dataset, "network": self.network, "mode": self.mode}


def _env_int(name: str, default: int, least: int) -> int:
    try:
        return max(least, int(os.environ.get(name, default)))
    except ValueError:
        return default


def default_folder(model_dir=None) -> Path:
    """LOOKINSIDE_JOBS_DIR, else a folder inside the model folder, so that two instances share a queue only when
    told to (a folder in /tmp was every instance's on the machine)."""
    found = os.environ.get(JOBS_DIR_ENV)
    if found:
        return Path(found)
    return Path(model_dir) / "jobs" if model_dir is not None else Path(tempfile.gettempdir()) / "lookinside-jobs"


class Queue:
    """The queue in `folder`; holds no state of its own, so any number of processes can share it."""

    def __init__(self, folder: Optional[Path] = None, slots: Optional[int] = None, max_waiting: Optional[int] = None,
                 launch: Optional[Callable[["Queue", Job], None]] = None, per_address: Optional[int] = None):
        self.folder = Path(folder or default_folder())
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path = self.folder / "jobs.sqlite"
        self.slots = slots if slots is not None else _env_int(SLOTS_ENV, 1, 1)
        self.max_waiting = max_waiting if max_waiting is not None else _env_int(WAITING_ENV, MAX_WAITING, 0)
        self.per_address = per_address if per_address is not None else _env_int(PER_ADDRESS_ENV, PER_ADDRESS, 1)
        self.launch = launch or default_launcher()
        with self._db() as db:
            db.executescript(_SCHEMA)
        with self._db(write=True) as db:
            if "address" not in [row[1] for row in db.execute("PRAGMA table_info(jobs)")]:
                db.execute(_ADDRESS_COLUMN)

    @contextlib.contextmanager
    def _db(self, write: bool = False) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.row_factory = sqlite3.Row
        try:
            db.execute("PRAGMA journal_mode=WAL")
            if write:
                db.execute("BEGIN IMMEDIATE")  # one writer at a time, across processes
            yield db
            if write:
                db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        finally:
            db.close()

    def submit(self, dataset: str, target: Target | str, mode: str, settings: dict, visitor: str = "",
               who: str = "visitor", name: Optional[Callable[[list[str]], str]] = None,
               address: str = "") -> tuple[Job, bool]:
        """Queue a job, or join the active one for the same target and mode; returns (job, joined). A target
        given as a network id is that network's.

        `name(taken)` gives a new job its network id (a run's fresh id, past the ids in `taken`);
        without it the job writes the target's network. Raises Refused past the bounds: one active job per
        visitor, `per_address` per client address (a visitor's id costs nothing to change; an address
        does), `max_waiting` in all.
        """
        target = Target(target) if isinstance(target, str) else target
        with self._db(write=True) as db:
            found = db.execute("SELECT * FROM jobs WHERE dataset=? AND target=? AND mode=? AND state IN "
                               f"({_marks(ACTIVE)})", (dataset, target.text(), mode, *ACTIVE)).fetchone()
            if found is not None:
                return _job(found), True
            if visitor and db.execute(f"SELECT 1 FROM jobs WHERE visitor=? AND state IN ({_marks(ACTIVE)})",
                                      (visitor, *ACTIVE)).fetchone():
                raise Refused("You already have a network training: wait for it to finish, then try again "
                              "(one at a time per visitor).")
            if address and who != "admin" and db.execute(
                    f"SELECT COUNT(*) FROM jobs WHERE address=? AND state IN ({_marks(ACTIVE)})",
                    (address, *ACTIVE)).fetchone()[0] >= self.per_address:
                log.info("training job refused: %s/%s (%s): %d jobs from one address already", dataset, target.text(),
                         mode, self.per_address)
                raise Refused(f"{self.per_address} networks asked for from your network are training or waiting "
                              "already; try again when one has finished.")
            waiting = db.execute("SELECT COUNT(*) FROM jobs WHERE state='queued'").fetchone()[0]
            if waiting >= self.max_waiting:
                ahead = db.execute(f"SELECT COUNT(*) FROM jobs WHERE state IN ({_marks(ACTIVE)})",
                                   ACTIVE).fetchone()[0]
                log.info("training job refused: %s/%s (%s): the queue is full", dataset, target.text(), mode)
                raise Refused(f"The trainer is busy: {ahead} jobs ahead, try again in a few minutes.")
            taken = [r[0] for r in db.execute(f"SELECT network FROM jobs WHERE dataset=? AND state IN "
                                              f"({_marks(ACTIVE)})", (dataset, *ACTIVE))]
            network = name(taken) if name else target.network
            job_id = uuid.uuid4().hex
            db.execute("INSERT INTO jobs (id, dataset, target, network, mode, who, visitor, settings, state, created,"
                       " address) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?)",
                       (job_id, dataset, target.text(), network, mode, who, visitor, json.dumps(settings), time.time(),
                        address))
            db.execute("DELETE FROM jobs WHERE state NOT IN (" + _marks(ACTIVE) + ") AND finished < ?",
                       (*ACTIVE, time.time() - KEEP_FINISHED))
        log.info("training job %s queued: %s/%s (%s, asked by %s)", job_id[:8], dataset, network, mode, who)
        self.pump()
        return self.get(job_id), False

    def get(self, job_id) -> Optional[Job]:
        if not isinstance(job_id, str) or len(job_id) != 32:
            return None
        with self._db() as db:
            row = db.execute("SELECT * FROM jobs WHERE id=?", (job_id,)).fetchone()
        return _job(row) if row is not None else None

    def ahead_of(self, job: Job) -> int:
        """How many jobs run or wait before this queued one."""
        with self._db() as db:
            return db.execute("SELECT COUNT(*) FROM jobs WHERE state IN ('running', 'cancelling') "
                              "OR (state='queued' AND created < ?)", (job.created,)).fetchone()[0]

    def active(self) -> list[Job]:
        with self._db() as db:
            rows = db.execute(f"SELECT * FROM jobs WHERE state IN ({_marks(ACTIVE)}) ORDER BY created",
                              ACTIVE).fetchall()
        return [_job(r) for r in rows]

    def pump(self) -> list[Job]:
        """Fail the running jobs whose process died, then start queued ones while slots are free.

        A slot is free only once the process of the job that held it has exited, not when the job ended: a
        runner that has reported its result still holds its memory until it is gone."""
        now, claimed = time.time(), []
        if not self._needs_pump(now):  # the common case, every poll of every watcher: no write lock taken
            return claimed
        with self._db(write=True) as db:
            running = [_job(r) for r in db.execute("SELECT * FROM jobs WHERE state IN ('running', 'cancelling')")]
            exiting = self._exiting(db)
            for job in list(running):
                if not self._dead(job, now):
                    continue
                log.warning("training job %s (%s/%s) died with its process", job.id[:8], job.dataset, job.network)
                db.execute("UPDATE jobs SET state='failed', finished=?, message=? WHERE id=?", (now, DIED, job.id))
                running.remove(job)
            free = self.slots - len(running) - exiting
            if free > 0:
                for row in db.execute("SELECT * FROM jobs WHERE state='queued' ORDER BY created LIMIT ?", (free,)):
                    claimed.append(_job(row))
                for job in claimed:
                    db.execute("UPDATE jobs SET state='running', started=? WHERE id=?", (now, job.id))
        for job in claimed:
            try:
                self.launch(self, job)
            except Exception as e:  # a launcher that cannot start is this job's failure, not the caller's
                log.error("could not start training job %s: %s", job.id[:8], e)
                self.end(job.id, "failed", "The trainer could not be started; the error was logged.")
        return claimed

    def _needs_pump(self, now: float) -> bool:
        with self._db() as db:
            running = [_job(r) for r in db.execute("SELECT * FROM jobs WHERE state IN ('running', 'cancelling')")]
            waiting = db.execute("SELECT COUNT(*) FROM jobs WHERE state='queued'").fetchone()[0]
            busy = len(running) + (self._exiting(db) if waiting else 0)
        return any(self._dead(j, now) for j in running) or (waiting > 0 and busy < self.slots)

    def _exiting(self, db: sqlite3.Connection) -> int:
        """How many ended jobs' processes are still alive (still holding their lock); the lock files of those
        that are gone are removed."""
        alive = 0
        for path in self.folder.glob("job-*.lock"):
            job_id = path.stem[len("job-"):]
            row = db.execute("SELECT state FROM jobs WHERE id=?", (job_id,)).fetchone()
            if row is not None and row[0] in ACTIVE:
                continue  # a running job's lock: `_dead` looks after it
            if self._held(path):
                alive += 1
            else:
                path.unlink(missing_ok=True)
        return alive

    def _dead(self, job: Job, now: float) -> bool:
        """A claimed job whose process holds no lock: gone, or never started within the grace period."""
        return not self._alive(job) and (job.pid is not None or now - (job.started or now) >= START_GRACE)

    def lock_path(self, job_id: str) -> Path:
        return self.folder / f"job-{job_id}.lock"

    def _alive(self, job: Job) -> bool:
        """Whether a process holds the job's lock (the job's runner, for as long as it lives)."""
        return self._held(self.lock_path(job.id))

    @staticmethod
    def _held(path: Path) -> bool:
        if not path.exists():
            return False
        with open(path, "a") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(f, fcntl.LOCK_UN)
            return False

    @contextlib.contextmanager
    def hold(self, job_id: str, until_exit: bool = False) -> Iterator[None]:
        """Held by the process that runs a job, from start to end; the OS lets go if the process dies.

        `until_exit` (a runner in a process of its own) keeps it past the job's end until the process has
        exited, so the next job's process never starts beside this one's memory (see `pump`)."""
        fd = os.open(self.lock_path(job_id), os.O_WRONLY | os.O_CREAT, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            with self._db(write=True) as db:
                db.execute("UPDATE jobs SET pid=? WHERE id=?", (os.getpid(), job_id))
            yield
        finally:
            if until_exit:
                _HELD.append(fd)  # never closed: the kernel lets go when the process is gone
            else:
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)
                self.lock_path(job_id).unlink(missing_ok=True)

    def report(self, job_id: str, progress: Optional[dict] = None, frame: Optional[str] = None) -> str:
        """Store a running job's progress and latest live frame; returns the job's state (to see a cancel)."""
        with self._db(write=True) as db:
            if progress is not None:
                db.execute("UPDATE jobs SET progress=? WHERE id=?", (json.dumps(progress), job_id))
            if frame is not None:
                db.execute("UPDATE jobs SET frame=?, frame_no=frame_no+1 WHERE id=?", (frame, job_id))
            row = db.execute("SELECT state FROM jobs WHERE id=?", (job_id,)).fetchone()
        return row[0] if row else "cancelled"

    def end(self, job_id: str, state: str, message: str = "", result: Optional[dict] = None) -> None:
        with self._db(write=True) as db:
            db.execute("UPDATE jobs SET state=?, finished=?, message=?, result=? WHERE id=? AND state IN "
                       f"({_marks(ACTIVE)})", (state, time.time(), message,
                                               json.dumps(result) if result is not None else None, job_id, *ACTIVE))

    def cancel(self, job_id: str) -> bool:
        """Stop a job: a queued one at once, a running one at its next progress report."""
        with self._db(write=True) as db:
            queued = db.execute("UPDATE jobs SET state='cancelled', finished=?, message='Stopped before it started.' "
                                "WHERE id=? AND state='queued'", (time.time(), job_id)).rowcount
            running = db.execute("UPDATE jobs SET state='cancelling' WHERE id=? AND state='running'",
                                 (job_id,)).rowcount
        return bool(queued or running)


_HELD: list[int] = []  # locks this process keeps until it exits


def _marks(values) -> str:
    return ", ".join("?" * len(values))


def _job(row: sqlite3.Row) -> Job:
    return Job(id=row["id"], dataset=row["dataset"], target=Target.parse(row["target"]), network=row["network"], mode=row["mode"],
               who=row["who"], visitor=row["visitor"], settings=json.loads(row["settings"]), state=row["state"],
               created=row["created"], started=row["started"], finished=row["finished"], pid=row["pid"],
               progress=json.loads(row["progress"]) if row["progress"] else None, frame=row["frame"],
               frame_no=row["frame_no"], result=json.loads(row["result"]) if row["result"] else None,
               message=row["message"])


def default_launcher() -> Callable[[Queue, Job], None]:
    return launch_celery if os.environ.get(REDIS_ENV) else launch_process


def launch_process(queue: Queue, job: Job) -> None:
    """Run the job in a fresh interpreter, at a lower priority than the web workers."""
    proc = subprocess.Popen([sys.executable, "-m", "app.runner", str(queue.folder), job.id], cwd=PROJECT_DIR,
                            stdin=subprocess.DEVNULL, start_new_session=True, close_fds=True)
    # Reap it when it ends, so no zombie is left behind the web worker that started it; then hand its slot on,
    # even if nobody is watching.
    threading.Thread(target=_reap, args=(proc, queue, job.id), daemon=True, name=f"reap-{job.id[:8]}").start()


def _reap(proc: subprocess.Popen, queue: Queue, job_id: str) -> None:
    try:
        proc.wait()
    except (OSError, SystemExit):  # the web process is going away: the runner then belongs to init
        return
    try:
        if not queue._held(queue.lock_path(job_id)):
            queue.lock_path(job_id).unlink(missing_ok=True)  # its process kept it to the end; now it is gone
        queue.pump()
    except Exception:  # a busy or vanished queue: the next poll or request pumps instead
        log.warning("could not hand on the training slot of pid %d", proc.pid, exc_info=True)


def launch_celery(queue: Queue, job: Job) -> None:
    celery_app().send_task("lookinside.run_job", args=[str(queue.folder), job.id])


@functools.lru_cache(maxsize=1)
def celery_app():
    """One Celery app per process, with Redis as broker and result backend."""
    from celery import Celery
    url = os.environ[REDIS_ENV]
    app = Celery("lookinside", broker=url, backend=url)
    # One training job at a time per worker process, taken only when it can start.
    app.conf.update(worker_prefetch_multiplier=1, task_acks_late=True, result_expires=3600,
                    broker_connection_retry_on_startup=True, task_ignore_result=True)
    return app
