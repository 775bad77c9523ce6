"""The one bounded cache: a thread-safe LRU for results that never change once made (keyed by identity)."""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Callable, Hashable, Optional


class Bounded:
    """At most `items` entries (and, with `size`, at most `max_bytes` of them), least recently used out first.

    A key must name its value for good (a checkpoint id, never a file name): then every process that
    builds a value builds the same one, and dropping any entry only costs rebuilding it.
    """

    def __init__(self, items: int, max_bytes: Optional[int] = None, size: Optional[Callable[[object], int]] = None):
        if (max_bytes is None) != (size is None):
            raise ValueError("a byte bound needs a size function, and a size function a bound")
        self.max_items, self.max_bytes, self.size = items, max_bytes, size
        self.entries: OrderedDict[Hashable, tuple[object, int]] = OrderedDict()
        self.bytes, self.lock = 0, threading.Lock()
        self.building: dict[Hashable, threading.Lock] = {}  # one build per key at a time
        self.hits = self.misses = 0

    def find(self, key: Hashable, default=None):
        """The value kept under `key` (now the most recent), or `default`."""
        with self.lock:
            found = self.entries.get(key)
            if found is None:
                self.misses += 1
                return default
            self.entries.move_to_end(key)
            self.hits += 1
            return found[0]

    def put(self, key: Hashable, value) -> None:
        """Keep `value`, unless it alone exceeds the byte bound; the first value kept for a key stays."""
        nbytes = self.size(value) if self.size is not None else 0
        if self.max_bytes is not None and nbytes > self.max_bytes:
            return
        with self.lock:
            if key in self.entries:
                return
            self.entries[key] = (value, nbytes)
            self.bytes += nbytes
            while len(self.entries) > self.max_items or (self.max_bytes is not None and self.bytes > self.max_bytes):
                _, (_, old) = self.entries.popitem(last=False)
                self.bytes -= old

    def get(self, key: Hashable, build: Callable[[], object]):
        """The value under `key`, built (outside the lock, so a slow build blocks no other key) if missing.

        Threads that miss the same key together wait for one build instead of each making a copy: a layer's
        index is hundreds of MB while it is made, and four request threads asking at once held four."""
        missing = object()
        value = self.find(key, missing)
        if value is not missing:
            return value
        with self.lock:
            gate = self.building.setdefault(key, threading.Lock())
        try:
            with gate:
                with self.lock:  # built meanwhile by the thread this one waited for? (not a second miss)
                    found = self.entries.get(key)
                value = found[0] if found is not None else missing
                if value is missing:
                    value = build()
                    self.put(key, value)
        finally:
            with self.lock:
                if self.building.get(key) is gate and not gate.locked():
                    del self.building[key]
        return value

    def __len__(self) -> int:
        return len(self.entries)


def approx_bytes(value, depth: int = 0) -> int:
    """About how much memory a cached result holds: arrays and tensors exactly, containers, strings and plain
    objects (an evaluation, a figure as a dict) by walking them; good enough to bound a cache by."""
    nbytes = getattr(value, "nbytes", None)
    if isinstance(nbytes, int):
        return nbytes
    if hasattr(value, "element_size") and hasattr(value, "nelement"):  # a torch tensor
        return value.element_size() * value.nelement()
    if isinstance(value, (str, bytes, bytearray)):
        return 50 + len(value)
    if depth > 12:
        return 64
    if isinstance(value, dict):
        return 64 + sum(64 + approx_bytes(k, depth + 1) + approx_bytes(v, depth + 1) for k, v in value.items())
    if isinstance(value, (list, tuple, set, frozenset)):
        if len(value) > 256 and all(isinstance(v, (int, float)) for v in list(value)[:64]):
            return 64 + 32 * len(value)  # a long list of numbers: a pointer and a boxed number each
        return 64 + sum(8 + approx_bytes(v, depth + 1) for v in value)
    fields = getattr(value, "__dict__", None)
    if isinstance(fields, dict):
        return 64 + sum(approx_bytes(v, depth + 1) for v in fields.values())
    return 32
