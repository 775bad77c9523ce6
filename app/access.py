"""Who may change what, and how often: the admin token, each visitor's identity, and the rate limits.

Reading is open to everyone. Replacing a network that other visitors see needs the admin token from
LOOKINSIDE_ADMIN_TOKEN (compared in constant time); `python -m app` on loopback with no token set is
one person's own machine, where everything is allowed.

A visitor is who the server says they are: the page hands each browser an id signed with the server's
secret (LOOKINSIDE_SECRET, else one generated once and kept in the jobs folder), and an id the server did
not sign is no id at all. Since a new id costs nothing (load the page again), every limit that guards
work or the admin token also counts per client address: a visitor who rotates cookies gets no more than
their address's share. The counts live where every process of the machine sees them (Redis with
REDIS_URL, else a SQLite file beside the training queue's), so three gunicorn workers never allow three
times the figures. A refused action answers 429 with the sentence the page shows.
"""
from __future__ import annotations

import contextlib
import hmac
import ipaddress
import logging
import os
import re
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

from flask import Flask, has_request_context, request
from itsdangerous import BadSignature, Signer
from limits import parse_many
from limits.storage import MovingWindowSupport, Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter
from werkzeug.exceptions import TooManyRequests
from werkzeug.middleware.proxy_fix import ProxyFix

log = logging.getLogger("lookinside")

ADMIN_ENV = "LOOKINSIDE_ADMIN_TOKEN"
SECRET_ENV = "LOOKINSIDE_SECRET"
PROXIES_ENV = "LOOKINSIDE_PROXIES"  # how many trusted proxies stand in front (the compose file's nginx: 1)
SECRET_FILE = "visitor-secret"
SALT = "lookinside-visitor"
VISITOR_COOKIE = "lookinside_visitor"
_ID = re.compile(r"[0-9a-f]{32}")
# Per visitor. Training is also bounded by the queue (one job per visitor, eight waiting in all).
LIMITS = {
    "train": "3 per minute; 12 per hour",
    "suspects": "6 per minute",  # "Find them" (likely label errors)
    "snapshot": "6 per minute; 30 per hour",  # opening a network's timeline whose snapshots need evaluating
    "map": "6 per minute; 40 per hour",  # a background job of the layer maps: UMAP, a convnet's layers or units off
    "switch": "30 per minute; 600 per hour",  # a new set of units switched off, computed in the request
    "token": "10 per minute",  # admin token guesses
    "fool": "10 per minute; 120 per hour",  # the smallest change that fools a network: up to seconds of CPU
    "calibration": "6 per minute; 60 per hour",  # a network's temperature: a pass over 5,000 training images
    "unit": "60 per minute; 600 per hour",  # a unit's feature visualisation (once per unit), or a convnet's pass
    "influence": "10 per minute; 100 per hour",  # TracIn: a 1-layer net's scorer (once), or another net's job
    "sanity": "20 per minute; 300 per hour",  # a map's randomisation cascade: up to a second or two of CPU
    "saliency": "120 per minute; 2400 per hour",  # a convnet explanation's Captum maps, once per image and method
}
# Per client address, whatever its cookies: a classroom behind one NAT is many honest visitors, so these
# are the per-visitor figures times a class's worth, except for token guesses, which nobody needs many of.
ADDRESS_LIMITS = {
    "train": "20 per minute; 80 per hour",
    "suspects": "30 per minute",
    "snapshot": "40 per minute; 200 per hour",
    "map": "30 per minute; 200 per hour",
    "switch": "120 per minute; 2400 per hour",
    "token": "10 per minute",
    "fool": "40 per minute; 600 per hour",
    "calibration": "30 per minute; 300 per hour",
    "unit": "240 per minute; 2400 per hour",
    "influence": "40 per minute; 400 per hour",
    "sanity": "80 per minute; 1200 per hour",
    "saliency": "480 per minute; 9600 per hour",
}
ONCE = parse_many("1 per hour")[0]
SENTENCES = {
    "train": "You have started training too often; wait a minute and try again.",
    "suspects": "The search for label errors was asked for too often; wait a minute and try again.",
    "snapshot": "Too many networks' timelines were evaluated; wait a minute and try again.",
    "map": "Too many maps or switched-off filters were computed; wait a minute and try again.",
    "switch": "Units were switched off and on too often; wait a minute and try again.",
    "token": "Too many admin tokens were tried; wait a minute and try again.",
    "fool": "Too many changes were searched for; wait a minute and try again.",
    "calibration": "Too many networks' temperatures were fitted; wait a minute and try again.",
    "unit": "Too many units' images were searched for; wait a minute and try again.",
    "influence": "Too many searches for the training images behind an answer; wait a minute and try again.",
    "sanity": "Too many maps were checked; wait a minute and try again.",
    "saliency": "Too many pixel maps were computed; wait a minute and try again.",
}


@dataclass(frozen=True)
class Access:
    token: Optional[str] = None  # the admin token; None: nobody can replace a served network...
    open: bool = False  # ...unless this is one person's own dashboard (python -m app on loopback, no token)

    @classmethod
    def from_env(cls, single_user: bool = False) -> "Access":
        token = os.environ.get(ADMIN_ENV) or None
        return cls(token=token, open=single_user and token is None)

    def is_admin(self, offered) -> bool:
        if self.open:
            return True
        if not self.token or not isinstance(offered, str) or not offered or len(offered) > 256:
            return False
        return hmac.compare_digest(offered.encode(), self.token.encode())


class RateLimited(TooManyRequests):
    """A refused request: a 429 whose body is one sentence for the page."""


def load_secret(folder: Path) -> bytes:
    """The key visitor ids are signed with: LOOKINSIDE_SECRET, else the one kept in `folder` (made once, by
    whichever process gets there first; every other process, now or after a restart, reads the same)."""
    if os.environ.get(SECRET_ENV):
        return os.environ[SECRET_ENV].encode()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / SECRET_FILE
    if not path.exists():
        spare = folder / f".{SECRET_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(spare, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
        try:
            os.link(spare, path)  # atomic, and refuses to replace one another process made first
        except FileExistsError:
            pass
        finally:
            spare.unlink(missing_ok=True)
    secret = path.read_text().strip()
    if len(secret) < 32:
        raise RuntimeError(f"the visitor secret in {path} is too short; delete it and start again")
    return secret.encode()


def address() -> str:
    """The client's address: the connection's, or with LOOKINSIDE_PROXIES set, what the trusted proxy saw."""
    if not has_request_context():
        return ""  # a callback called directly (the tests, the warm-up): no client
    try:  # one key per machine: a client's IPv6 /64 is all theirs
        ip = ipaddress.ip_address(request.remote_addr or "")
    except ValueError:
        return str(request.remote_addr)[:64]
    if ip.version == 6:
        if ip.ipv4_mapped:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def visitor() -> str:
    """The visitor making this request: the id the server signed into their cookie, else their address."""
    if not has_request_context():
        return "local"  # a callback called directly, as the tests and the warm-up do
    return getattr(request, "lookinside_visitor", None) or f"ip:{address()}"


class SqliteStorage(Storage, MovingWindowSupport):
    """A moving-window store for `limits` in one SQLite file, which every process of the machine shares."""

    STORAGE_SCHEME = ["lookinside+sqlite"]

    def __init__(self, uri: str, **options):
        super().__init__(uri, **options)
        self.path = uri.split("://", 1)[1]
        self._local = threading.local()
        with self._db() as db:
            db.executescript("CREATE TABLE IF NOT EXISTS hits (key TEXT NOT NULL, at REAL NOT NULL, until REAL NOT NULL);"
                             "CREATE INDEX IF NOT EXISTS hits_key ON hits (key, at);"
                             "CREATE INDEX IF NOT EXISTS hits_until ON hits (until);")

    @contextlib.contextmanager
    def _db(self, write: bool = False) -> Iterator[sqlite3.Connection]:
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
        if write:
            db.execute("BEGIN IMMEDIATE")  # one writer at a time, across processes
        try:
            yield db
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        if write:
            db.execute("COMMIT")

    @property
    def base_exceptions(self):
        return sqlite3.Error

    def _count(self, db, key: str, since: float) -> tuple[int, float]:
        count, oldest = db.execute("SELECT COUNT(*), MIN(at) FROM hits WHERE key=? AND at>?", (key, since)).fetchone()
        return count, oldest or time.time()

    def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        if amount > limit:
            return False
        now = time.time()
        with self._db(write=True) as db:
            if secrets.randbelow(200) == 0:  # now and then, forget what no window looks at any more
                db.execute("DELETE FROM hits WHERE until<?", (now,))
            count, _ = self._count(db, key, now - expiry)
            if count + amount > limit:
                return False
            db.executemany("INSERT INTO hits VALUES (?, ?, ?)", [(key, now, now + expiry)] * amount)
        return True

    def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:
        """(when the oldest hit in the window was, how many hits it holds)"""
        with self._db() as db:
            count, oldest = self._count(db, key, time.time() - expiry)
        return oldest, count

    # The fixed-window half of the interface (unused here: every limit is a moving window).
    def incr(self, key: str, expiry: float, amount: int = 1) -> int:
        now = time.time()
        with self._db(write=True) as db:
            db.executemany("INSERT INTO hits VALUES (?, ?, ?)", [(key, now, now + expiry)] * amount)
            return db.execute("SELECT COUNT(*) FROM hits WHERE key=? AND until>?", (key, now)).fetchone()[0]

    def get(self, key: str) -> int:
        with self._db() as db:
            return db.execute("SELECT COUNT(*) FROM hits WHERE key=? AND until>?", (key, time.time())).fetchone()[0]

    def get_expiry(self, key: str) -> float:
        with self._db() as db:
            return db.execute("SELECT MAX(until) FROM hits WHERE key=?", (key,)).fetchone()[0] or time.time()

    def clear(self, key: str) -> None:
        with self._db(write=True) as db:
            db.execute("DELETE FROM hits WHERE key=?", (key,))

    def reset(self) -> int:
        with self._db(write=True) as db:
            return db.execute("DELETE FROM hits").rowcount

    def check(self) -> bool:
        try:
            with self._db() as db:
                db.execute("SELECT 1")
            return True
        except sqlite3.Error:
            return False


def _proxies() -> int:
    try:
        return max(0, int(os.environ.get(PROXIES_ENV) or 0))
    except ValueError:
        log.warning("%s must be a number of proxies; trusting none", PROXIES_ENV)
        return 0


def cookie_for(signer: Signer, visitor_id: str) -> str:
    """The cookie that names visitor `visitor_id` (32 hex digits) to a server signing with `signer`."""
    return signer.sign(visitor_id).decode()


class Limits:
    """Named limits, counted per visitor and per address, in a store every process of the machine shares."""

    def __init__(self, server: Flask, folder: Path):
        url = os.environ.get("REDIS_URL")
        storage = storage_from_string(url) if url else SqliteStorage(f"lookinside+sqlite://{folder / 'limits.sqlite'}")
        self.limiter = MovingWindowRateLimiter(storage)
        self.items = {name: parse_many(value) for name, value in LIMITS.items()}
        self.address_items = {name: parse_many(value) for name, value in ADDRESS_LIMITS.items()}
        self.signer = Signer(load_secret(folder), salt=SALT)
        hops = _proxies()
        if hops:  # behind the compose file's nginx: its X-Forwarded-For names the client, nobody else's does
            server.wsgi_app = ProxyFix(server.wsgi_app, x_for=hops, x_proto=hops, x_host=0)

        @server.before_request
        def _who():
            request.lookinside_visitor = self.unsign(request.cookies.get(VISITOR_COOKIE, ""))

        @server.after_request
        def _name_the_visitor(response):
            # Only the page itself names a visitor: callback answers may be replayed to others (app/replay.py).
            if request.path == "/" and getattr(request, "lookinside_visitor", None) is None:
                response.set_cookie(VISITOR_COOKIE, cookie_for(self.signer, secrets.token_hex(16)),
                                    max_age=30 * 24 * 3600, httponly=True, samesite="Lax")
            return response

    def unsign(self, cookie) -> Optional[str]:
        """The visitor id in a cookie the server signed; None for anything else (forged, unsigned, old)."""
        if not isinstance(cookie, str) or len(cookie) > 200:
            return None
        try:
            value = self.signer.unsign(cookie).decode()
        except (BadSignature, UnicodeDecodeError):
            return None
        return value if _ID.fullmatch(value) else None

    def check(self, name: str) -> None:
        """Count one use of `name` for this visitor and their address; raise RateLimited past either limit."""
        keys = [(self.items[name], visitor())]
        if name in self.address_items:
            keys.append((self.address_items[name], f"addr:{address()}"))
        for items, who in keys:  # test every window first, so a refusal counts nothing
            if not all(self.limiter.test(item, name, who) for item in items):
                raise RateLimited(description=SENTENCES[name])
        for items, who in keys:
            for item in items:
                if not self.limiter.hit(item, name, who):
                    raise RateLimited(description=SENTENCES[name])

    def check_once(self, name: str, key: str) -> None:
        """Count `name` for this visitor only the first time in an hour that they use it on `key` (stepping
        through one network's timeline is one use); raise RateLimited past its limit."""
        who, seen = visitor(), f"{name}-seen"
        if not self.limiter.test(ONCE, seen, who, key):
            return  # counted already
        self.check(name)
        self.limiter.hit(ONCE, seen, who, key)
