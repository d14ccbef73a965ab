"""Requests per key (a hub member's token, a client address, a notice code): a token bucket
per key, in the memory of one process. The hub and the node's public moderation routes
share it."""

from __future__ import annotations

import math
import threading
import time


class RateLimiter:
    """`rate` requests per second on average, `burst` at once. Keys idle long enough to be
    full again are forgotten, so memory follows the number of active keys."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = max(1, burst)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()
        self._last_sweep = time.monotonic()

    def take(self, key: str) -> float:
        """0 when the request may go on, else the seconds to wait before the next one."""
        if self.rate <= 0:
            return 0.0
        now = time.monotonic()
        with self._lock:
            tokens, at = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - at) * self.rate)
            if tokens >= 1:
                self._buckets[key] = (tokens - 1, now)
                wait = 0.0
            else:
                self._buckets[key] = (tokens, now)
                wait = (1 - tokens) / self.rate
            if now - self._last_sweep > 60:
                self._sweep(now)
        return wait

    def _sweep(self, now: float) -> None:
        full = self.burst / self.rate
        self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < full}
        self._last_sweep = now


def retry_after(wait: float) -> str:
    return str(max(1, math.ceil(wait)))
