"""Waking stream followers as soon as a change is committed.

In-process, writers call `ChangeNotifier.notify()` after their commit. On PostgreSQL every
write transaction also sends `NOTIFY` (delivered at commit), and `PgListener` turns the
notifications of other hub processes into the same wake-up, so that followers connected to
any process behind a load balancer are pushed every change at once.
"""

from __future__ import annotations

import asyncio
import logging
import threading

import psycopg
from sqlalchemy import Connection, text
from sqlalchemy.engine import URL

CHANNEL = "cordon_hub_changes"
log = logging.getLogger("cordon.hub")


class ChangeNotifier:
    """A broadcast wake-up: every waiter that took `current()` before a notify is woken."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event: asyncio.Event | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._event = asyncio.Event()

    def current(self) -> asyncio.Event:
        """The event the next notify sets. Take it before reading the database, then wait on
        it: a commit between the read and the wait is not lost."""
        assert self._event is not None, "bind the notifier to the event loop first"
        return self._event

    def notify(self) -> None:
        """Thread-safe; cheap when nobody listens."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._fire)

    def _fire(self) -> None:
        event, self._event = self._event, asyncio.Event()
        if event is not None:
            event.set()


def send_notification(connection: Connection) -> None:
    """Queue a notification for the commit of this transaction (PostgreSQL only)."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_notify(:channel, '')"), {"channel": CHANNEL})


class PgListener:
    """A thread that LISTENs on its own connection and wakes the local followers."""

    def __init__(self, url: URL, notifier: ChangeNotifier) -> None:
        self._conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._notifier = notifier
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cordon-hub-listen", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        delay = 0.5
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._conninfo, autocommit=True, connect_timeout=10) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    delay = 0.5
                    # A wake-up after (re)connecting covers what was missed meanwhile.
                    self._notifier.notify()
                    while not self._stop.is_set():
                        # stop_after=1: wake followers at the first notification rather
                        # than at the end of the timeout.
                        for _ in conn.notifies(timeout=0.5, stop_after=1):
                            self._notifier.notify()
            except psycopg.Error as exc:
                log.warning("hub notification listener lost its connection: %s",
                            str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
                self._stop.wait(delay)
                delay = min(delay * 2, 10.0)
