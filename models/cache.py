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
        """The value under `key`, built (outside the lock, so a slow build blocks no other key) if missing."""
        missing = object()
        value = self.find(key, missing)
        if value is missing:
            value = build()
            self.put(key, value)
        return value

    def __len__(self) -> int:
        return len(self.entries)
