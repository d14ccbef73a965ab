"""Settings of a hub server process (not of the application): the garbage collector and
uvicorn's connection handling."""

from __future__ import annotations

import gc

# Seconds an idle keep-alive connection stays open. uvicorn's default (5 s) is shorter than
# the pauses of a busy client's connection pool: a request sent as the hub closes the
# connection fails on the client side (seen as read errors under 100 concurrent clients).
KEEP_ALIVE_SECONDS = 75
# Allocations between two young-generation collections (CPython's default is 700). A
# 10,000-entry contribution or feed page allocates hundreds of thousands of objects, nearly
# all alive until the answer is sent: at the default, the collector ran hundreds of times per
# request and its older generations rescanned the whole page each time.
GC_THRESHOLD = (50_000, 20, 20)


def tune_gc() -> None:
    """Fewer, cheaper collections: the objects of start-up (modules, the application) are
    frozen out of the collector's scans, and young collections run less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)
