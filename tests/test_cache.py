"""The one bounded cache (models/cache.py): least recently used out first, by count or by bytes."""
from __future__ import annotations

import threading

import pytest

from models.cache import Bounded


def test_builds_once_and_drops_the_least_recently_used():
    cache, built = Bounded(2), []

    def build(key):
        return lambda: built.append(key) or key * 10

    assert cache.get(1, build(1)) == 10 and cache.get(2, build(2)) == 20 and cache.get(1, build(1)) == 10
    assert built == [1, 2]  # the second ask for 1 was answered from the cache
    cache.get(3, build(3))  # past two entries: 2, the least recently used, goes
    assert cache.find(2) is None and cache.find(1) == 10 and cache.find(3) == 30 and len(cache) == 2
    assert (cache.hits, cache.misses) == (3, 4)


def test_a_byte_bound_counts_what_is_kept_and_refuses_what_alone_exceeds_it():
    cache = Bounded(100, max_bytes=10, size=len)
    cache.put("a", b"12345")
    cache.put("b", b"123456")  # 11 bytes together: "a" goes
    assert cache.find("a") is None and cache.bytes == 6
    cache.put("c", b"x" * 11)
    assert cache.find("c") is None and cache.bytes == 6
    cache.put("b", b"other")  # the first value kept for a key stays
    assert cache.find("b") == b"123456"
    with pytest.raises(ValueError):
        Bounded(1, max_bytes=10)


def test_many_threads_keep_it_consistent():
    cache = Bounded(50, max_bytes=400, size=len)

    def work(seed):
        for n in range(500):
            key = (seed * 7 + n) % 80
            assert cache.get(key, lambda: b"v" * (key % 9 + 1)) == b"v" * (key % 9 + 1)

    threads = [threading.Thread(target=work, args=(s,)) for s in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(cache) <= 50 and cache.bytes == sum(len(v) for v, _ in cache.entries.values()) <= 400


def test_threads_that_miss_one_key_together_wait_for_one_build():
    import threading
    import time
    cache, built = Bounded(4), []

    def build():
        built.append(1)
        time.sleep(0.2)  # long enough that every thread asks while it runs
        return "value"
    threads = [threading.Thread(target=lambda: cache.get("k", build)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert built == [1] and cache.find("k") == "value" and not cache.building
