"""Who may change what, and how often: the admin token, each visitor's identity, and the rate limits.

Reading is open to everyone. Replacing a network that other visitors see needs the admin token from
LOOKINSIDE_ADMIN_TOKEN (compared in constant time); `python -m app` on loopback with no token set is
one person's own machine, where everything is allowed. The expensive actions are rate-limited per
visitor by Flask-Limiter; a refused one answers 429 with the sentence the page shows.
"""
from __future__ import annotations

import hmac
import os
import re
import secrets
from dataclasses import dataclass
from typing import Optional

from flask import Flask, has_request_context, request
from flask_limiter import Limiter
from limits import parse_many
from werkzeug.exceptions import TooManyRequests

ADMIN_ENV = "LOOKINSIDE_ADMIN_TOKEN"
VISITOR_COOKIE = "lookinside_visitor"
_VISITOR = re.compile(r"[0-9a-f]{32}")
# Per visitor. Training is also bounded by the queue (one job per visitor, eight waiting in all).
LIMITS = {
    "train": "3 per minute; 12 per hour",
    "suspects": "6 per minute",  # "Find them" (likely label errors)
    "snapshot": "6 per minute; 30 per hour",  # opening a network's timeline whose snapshots need evaluating
    "map": "6 per minute; 40 per hour",  # a background job of the layer maps: UMAP, a convnet's layers or units off
    "token": "10 per minute",  # admin token guesses
}
ONCE = parse_many("1 per hour")[0]
SENTENCES = {
    "train": "You have started training too often; wait a minute and try again.",
    "suspects": "The search for label errors was asked for too often; wait a minute and try again.",
    "snapshot": "Too many networks' timelines were evaluated; wait a minute and try again.",
    "map": "Too many maps or switched-off filters were computed; wait a minute and try again.",
    "token": "Too many admin tokens were tried; wait a minute and try again.",
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


def visitor() -> str:
    """The visitor making this request: their browser's cookie, else their address."""
    if not has_request_context():
        return "local"  # a callback called directly, as the tests and the warm-up do
    cookie = request.cookies.get(VISITOR_COOKIE, "")
    return cookie if _VISITOR.fullmatch(cookie) else f"ip:{request.remote_addr}"


class Limits:
    """Named per-visitor limits on one Flask-Limiter (Redis when REDIS_URL is set, else per process)."""

    def __init__(self, server: Flask):
        url = os.environ.get("REDIS_URL")
        self.limiter = Limiter(key_func=visitor, app=server, storage_uri=url or "memory://", strategy="moving-window",
                               default_limits=[], headers_enabled=False)
        self.items = {name: parse_many(value) for name, value in LIMITS.items()}

        @server.after_request
        def _name_the_visitor(response):
            # Only the page itself names a visitor: callback answers may be replayed to others (app/replay.py).
            if request.path == "/" and not _VISITOR.fullmatch(request.cookies.get(VISITOR_COOKIE, "")):
                response.set_cookie(VISITOR_COOKIE, secrets.token_hex(16), max_age=30 * 24 * 3600, httponly=True,
                                    samesite="Lax")
            return response

    def check(self, name: str) -> None:
        """Count one use of `name` for this visitor; raise RateLimited past its limit."""
        who = visitor()
        for item in self.items[name]:
            if not self.limiter.limiter.hit(item, name, who):
                raise RateLimited(description=SENTENCES[name])

    def check_once(self, name: str, key: str) -> None:
        """Count `name` for this visitor only the first time in an hour that they use it on `key` (stepping
        through one network's timeline is one use); raise RateLimited past its limit."""
        who, seen = visitor(), f"{name}-seen"
        if not self.limiter.limiter.test(ONCE, seen, who, key):
            return  # counted already
        self.check(name)
        self.limiter.limiter.hit(ONCE, seen, who, key)
