"""Login throttling: failed logins counted per user name and per client address in the
database (so every process of a service shares the counts), and a lock once a key has
failed too often within the window."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from cordon.store import Store
from cordon.store.types import utcnow
from cordon.store.web_models import web_login_failures
from cordon.web.settings import WebSettings


class LoginThrottle:
    def __init__(self, store: Store, realm: str, settings: WebSettings) -> None:
        self.store = store
        self.realm = realm
        self.settings = settings

    def _keys(self, name: str, address: str | None) -> list[tuple[str, int]]:
        keys = [(f"user:{self.realm}:{name.lower()[:150]}", self.settings.user_failures)]
        if address:
            keys.append((f"addr:{self.realm}:{address[:150]}", self.settings.address_failures))
        return keys

    def wait(self, name: str, address: str | None) -> float:
        """Seconds before a login of `name` from `address` may be tried again (0: now)."""
        keys = [key for key, _ in self._keys(name, address)]
        with self.store.read() as conn:
            locks = conn.execute(select(web_login_failures.c.locked_until).where(
                web_login_failures.c.key.in_(keys))).scalars().all()
        now = utcnow()
        return max([(lock - now).total_seconds() for lock in locks if lock is not None] + [0.0])

    def failed(self, name: str, address: str | None) -> None:
        try:
            self._count(name, address)
        except IntegrityError:
            # Two failures of a new key at once: both inserted; count again on the row the
            # other one made.
            self._count(name, address)

    def _count(self, name: str, address: str | None) -> None:
        now = utcnow()
        window = timedelta(seconds=self.settings.window_seconds)
        lock = now + timedelta(seconds=self.settings.lock_seconds)
        with self.store.plain_write() as conn:
            for key, limit in self._keys(name, address):
                row = conn.execute(select(web_login_failures).where(
                    web_login_failures.c.key == key)).first()
                if row is None:
                    conn.execute(insert(web_login_failures), {
                        "key": key, "failures": 1, "window_start": now,
                        "locked_until": lock if limit <= 1 else None})
                    continue
                fresh = now - row.window_start >= window
                failures = 1 if fresh else row.failures + 1
                conn.execute(update(web_login_failures).where(web_login_failures.c.key == key)
                             .values(failures=failures,
                                     window_start=now if fresh else row.window_start,
                                     locked_until=lock if failures >= limit else None))

    def succeeded(self, name: str) -> None:
        key = self._keys(name, None)[0][0]
        with self.store.plain_write() as conn:
            conn.execute(delete(web_login_failures).where(web_login_failures.c.key == key))
