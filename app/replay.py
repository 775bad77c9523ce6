"""Replays the exact bytes of a callback response when the same request comes again for an unchanged network.

Dash rebuilds and re-encodes a callback's answer on every request: for a heatmap or the weights panel
that is a deep copy of the figure, plotly's JSON encoder and gzip, about 1 to 2 ms of one core each
time, even when the figure itself is memoised. Most requests of a dashboard are repeats (two people
looking at the same network, a toggle flipped back, a dataset switched back), so this WSGI layer
keeps the final bytes, compressed as they were sent, and answers a byte-identical request with them.

A response may only be replayed while it is still true. The callbacks allowed here draw one pair's
network and depend on nothing but the request and that network, so the key is the request body,
the Accept-Encoding header and the network's revision (its checkpoint id, read from disk through the
same stat-keyed caches the callbacks use). A retrained network has a new revision, and a pair that is
not ready has none, so nothing about it is kept.
"""
from __future__ import annotations

import hashlib
import io
import json
from typing import Callable, Hashable, Iterable, Optional

from models.cache import Bounded

from . import ids

UPDATE_PATH = "/_dash-update-component"
MAX_REQUEST = 64 * 1024  # real requests of the allowed callbacks are a few KiB; larger ones pass through


class Replay:
    """WSGI middleware: a bounded store of callback responses (24 MiB by default), keyed as described above."""

    def __init__(self, wsgi_app, outputs: Iterable[str], revision: Callable[[str, str], Optional[Hashable]],
                 max_bytes: int = 24 * 2 ** 20, max_entry: int = 2 ** 20):
        self.app, self.outputs, self.revision = wsgi_app, frozenset(outputs), revision
        self.max_entry = max_entry
        self.store = Bounded(10 ** 6, max_bytes=max_bytes, size=lambda entry: len(entry[2]))

    @property
    def hits(self) -> int:
        return self.store.hits

    @property
    def misses(self) -> int:
        return self.store.misses

    def __call__(self, environ, start_response):
        key = self._key(environ)
        if key is None:
            return self.app(environ, start_response)
        found = self.store.find(key)
        if found is not None:
            status, headers, body = found
            start_response(status, list(headers))
            return [body]
        return self._record(key, environ, start_response)

    def _key(self, environ) -> Optional[tuple]:
        """The request's key if it may be replayed, else None; the body is put back for the app to read."""
        if environ.get("REQUEST_METHOD") != "POST" or environ.get("PATH_INFO") != UPDATE_PATH:
            return None
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return None
        if not 0 < length <= MAX_REQUEST:
            return None
        body = environ["wsgi.input"].read(length)
        environ["wsgi.input"] = io.BytesIO(body)
        try:
            request = json.loads(body)
        except (ValueError, RecursionError):  # not JSON, or nested too deep to parse: the app refuses it
            return None
        output = request.get("output") if isinstance(request, dict) else None
        if not isinstance(output, str) or output not in self.outputs:
            return None
        pair = _pair(request)
        if pair is None:
            return None
        try:
            revision = self.revision(*pair)
        except Exception:  # a revision that cannot be read is no revision: answer fresh, keep nothing
            return None
        if revision is None:
            return None
        return (hashlib.blake2b(body, digest_size=16).digest(), environ.get("HTTP_ACCEPT_ENCODING", ""), revision)

    def _record(self, key: tuple, environ, start_response):
        seen = {}

        def remember(status, headers, exc_info=None):
            seen["status"], seen["headers"] = status, headers
            return start_response(status, headers, exc_info)

        result = self.app(environ, remember)
        try:
            body = b"".join(result)
        finally:
            if hasattr(result, "close"):
                result.close()
        personal = any(name.lower() == "set-cookie" for name, _ in seen.get("headers", ()))
        if seen.get("status", "").startswith("200") and len(body) <= self.max_entry and not personal:
            self.store.put(key, (seen["status"], list(seen["headers"]), body))
        return [body]


def _pair(request: dict) -> Optional[tuple[str, str]]:
    """The dataset and network of the view store a callback request carries, or None without one."""
    for group in ("inputs", "state"):
        items = request.get(group)
        for item in items if isinstance(items, list) else ():
            if isinstance(item, dict) and item.get("id") == ids.STATE_VIEW and item.get("property") == "data":
                store = item.get("value")
                if isinstance(store, dict) and isinstance(store.get("dataset"), str) \
                        and isinstance(store.get("network"), str):
                    return store["dataset"], store["network"]
    return None
