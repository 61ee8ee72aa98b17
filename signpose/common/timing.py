"""Seconds per stage of the work, for the benchmark's breakdown: a no-op without a stats dict."""
import time
from contextlib import contextmanager
from typing import Iterator, Optional


@contextmanager
def timed(stats: Optional[dict], key: str):
    """Add the block's wall time to stats[key]; nothing without stats."""
    if stats is None:
        yield
        return
    start = time.perf_counter()
    try:
        yield
    finally:
        stats[key] = stats.get(key, 0.0) + time.perf_counter() - start


def timed_call(stats: Optional[dict], key: str, fn, *args):
    """fn(*args), its time added to stats[key]."""
    with timed(stats, key):
        return fn(*args)


def timed_items(items: Iterator, stats: Optional[dict], key: str) -> Iterator:
    """The items of an iterator, the time spent waiting for each added to stats[key]."""
    while True:
        with timed(stats, key):
            item = next(items, None)
        if item is None:
            return
        yield item
