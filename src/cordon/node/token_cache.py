"""The node's live tokens, kept in memory so that a request is authenticated without a
database read.

The cache holds the digests of every live token with its name and role (a handful of rows),
so that role checks need no read either, and reloads them from the
store at most `max_age` seconds after its last load, so a token revoked by another process
(`cordon node token revoke` on the same database) stops working within `max_age`; one revoked
through this process stops at once. An unknown digest reloads early, so that a token created a
moment ago is accepted, but at most every `min_reload` seconds: a stream of bad tokens cannot
turn into a stream of database reads.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from cordon.hub.tokens import digest
from cordon.node.roles import Principal

Loader = Callable[[], dict[str, Principal]]


class TokenCache:
    def __init__(self, load: Loader, *, max_age: float = 1.0, min_reload: float = 0.2) -> None:
        self._load = load
        self.max_age = max_age
        self.min_reload = min_reload
        self._names: dict[str, Principal] = {}
        self._loaded_at = float("-inf")
        self._generation = 0
        self._lock = threading.Lock()

    def fresh(self) -> bool:
        """Whether a lookup now is answered from memory (no database read)."""
        return time.monotonic() - self._loaded_at < self.max_age

    def due(self) -> bool:
        """Whether a reload should start now so that it ends before the cache goes stale
        (past half its age): the event loop starts one in the background and goes on
        answering from memory meanwhile."""
        return time.monotonic() - self._loaded_at >= self.max_age / 2

    def refresh(self) -> None:
        """Reload now (unless another thread just did)."""
        self._reload()

    def name(self, token: str) -> str | None:
        """The name of a live token, or None."""
        found = self.principal(token)
        return None if found is None else found.name

    def principal(self, token: str) -> Principal | None:
        """The name and role of a live token, or None."""
        key = digest(token)
        age = time.monotonic() - self._loaded_at
        if age >= self.max_age:
            self._reload()
            return self._names.get(key)
        found = self._names.get(key)
        if found is None and age >= self.min_reload:
            self._reload()
            found = self._names.get(key)
        return found

    def peek(self, token: str) -> Principal | None:
        """The name and role of a live token from memory alone, or None (unknown, or the
        cache is due for a reload): never reads the store, so the event loop may call it."""
        if not self.fresh():
            return None
        return self._names.get(digest(token))

    def invalidate(self) -> None:
        """Forget what was loaded: the next lookup reads the store."""
        self._generation += 1
        self._loaded_at = float("-inf")

    def _reload(self) -> None:
        with self._lock:
            started = time.monotonic()
            if started - self._loaded_at < self.min_reload:
                return  # another thread just reloaded
            generation = self._generation
            self._names = self._load()
            # A revocation during the read may not be in it: stay stale, read again next time.
            if generation == self._generation:
                self._loaded_at = started
