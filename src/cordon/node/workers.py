"""Several node processes on one port (`cordon node serve --workers N`).

Each process has its own listening socket on the port (`cordon.server_processes`) and builds
the application from the settings in the environment; each holds its own index. Two things
keep them one node:

- Leadership: one process at a time follows the hub and delivers webhooks (two followers
  would read the feed twice, two delivery workers would deliver twice). The processes
  compete for an exclusive lock on a file named by the parent; the holder leads until it
  exits, and the operating system then hands the lock to a waiting process.
- The local tail: every process reads the entries whose change number is past what it has
  indexed (a mirrored hub entry, a private entry added through another process, a
  withdrawal) every `tail_seconds` and indexes them, skipping the changes it wrote itself.
  Change numbers are handed out in commit order (see `cordon.store.database.Writer`), so
  a reader that has seen number N never later finds a smaller one appear.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import sys
import threading
from collections.abc import Callable
from typing import IO

from fastapi import FastAPI
from sqlalchemy import func, select

from cordon.errors import CordonError
from cordon.node.service import Node
from cordon.node.settings import NodeSettings
from cordon.store.models import entries

log = logging.getLogger("cordon.node.workers")

SETTINGS_ENV = "CORDON_NODE_SETTINGS"
_TAIL_BATCH = 10_000
# Allocations between two young-generation collections in a node process. The hub's 50,000
# (cordon.hub.runtime) suits its large pages; a node's requests are small, and a young
# collection of 50,000 objects stopped every request of the process for 27-36 ms of CPU
# (measured with a 1M-entry bank on a loaded machine; 1-2 ms at 5,000).
NODE_GC_THRESHOLD = (5_000, 20, 20)
# Seconds a thread waiting for the interpreter lock waits before the running thread must hand
# it over (Python's default is 0.005). A match runs on worker threads that release the lock
# for each SQLite call and wait to get it back while the event loop answers other requests:
# at 5 ms a turn, ten calls made a match's answer wait tens of milliseconds. One process at
# 1,000 requests a second, one in ten a match: p99 62 ms at 0.005, 22 ms at 0.0005, 9 ms at
# 0.0002 (and 2-3 ms with no matches).
NODE_SWITCH_INTERVAL = 0.0002


def tune_node_runtime() -> None:
    """The hub's collector settings (start-up objects frozen), with shorter young pauses, and
    a shorter turn for the interpreter lock."""
    import gc

    from cordon.hub.runtime import tune_gc

    tune_gc()
    gc.set_threshold(*NODE_GC_THRESHOLD)
    sys.setswitchinterval(NODE_SWITCH_INTERVAL)


def write_lock_path(leader_lock: str) -> str:
    """The file whose lock the processes' match-log writers take turns on."""
    return leader_lock + ".writes"


def app_from_environment() -> FastAPI:
    """The application of one worker process (uvicorn's factory)."""
    from cordon.node.app import create_app

    values = json.loads(os.environ.get(SETTINGS_ENV, "{}"))
    settings = NodeSettings(**{k: tuple(tuple(x) if isinstance(x, list) else x for x in v)
                               if isinstance(v, list) else v for k, v in values.items()})
    app = create_app(settings)
    node: Node = app.state.node
    # SQLite has one write lock for all processes, polled with sleeps by whoever waits (see
    # cordon.node.group_commit); PostgreSQL's match-log inserts do not wait for each other.
    if settings.leader_lock and node.store.dialect == "sqlite":
        node.match_log.serialise_with(write_lock_path(settings.leader_lock))
    tune_node_runtime()
    return app


def settings_to_environment(settings: NodeSettings) -> None:
    os.environ[SETTINGS_ENV] = json.dumps(settings.__dict__)


class Leadership:
    """Runs `lead` in the one process that holds the lock file (at once without one)."""

    def __init__(self, lock_path: str | None) -> None:
        self.lock_path = lock_path
        self._file: IO[bytes] | None = None
        self._thread: threading.Thread | None = None
        self.leading = threading.Event()
        self._resigned = threading.Event()

    def resign(self) -> None:
        """This process is shutting down: it must not start leading now, when the leader
        that also shuts down releases the lock."""
        self._resigned.set()

    def start(self, lead: Callable[[], None]) -> None:
        if self.lock_path is None:
            self.leading.set()
            lead()
            return

        def wait_then_lead() -> None:
            assert self.lock_path is not None
            self._file = open(self.lock_path, "ab")  # noqa: SIM115 - held for the process
            try:
                fcntl.flock(self._file.fileno(), fcntl.LOCK_EX)
            except OSError as exc:
                log.error("cannot lock %s (%s): this process will not lead", self.lock_path,
                          exc)
                return
            if self._resigned.is_set():
                fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
                return
            # On uvicorn's logger: it is the one a served process prints at this level.
            logging.getLogger("uvicorn.error").info(
                "process %d leads: follows the hub and delivers webhooks", os.getpid())
            self.leading.set()
            lead()

        self._thread = threading.Thread(target=wait_then_lead, name="cordon-leadership",
                                        daemon=True)
        self._thread.start()


class LocalTail:
    """Indexes the entries other processes of this node wrote (see the module notes)."""

    def __init__(self, node: Node, interval: float) -> None:
        self.node = node
        self.interval = interval
        self._seen = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def mark_loaded(self) -> None:
        """Call before the index is loaded: changes from here on are read by the tail."""
        with self.node.store.read() as conn:
            self._seen = conn.execute(
                select(func.coalesce(func.max(entries.c.change_seq), 0))).scalar_one()

    def poll(self) -> int:
        """Index what changed since the last poll; returns how many entries."""
        total = 0
        while True:
            with self.node.store.read() as conn:
                rows = conn.execute(select(entries.c.id, entries.c.change_seq)
                                    .where(entries.c.change_seq > self._seen)
                                    .order_by(entries.c.change_seq).limit(_TAIL_BATCH)).all()
            if not rows:
                return total
            ids = [row.id for row in rows if not self.node.wrote_change(row.change_seq)]
            if ids:
                self.node.reindex(ids)
            self._seen = rows[-1].change_seq
            self.node.forget_changes_upto(self._seen)
            total += len(ids)
            if len(rows) < _TAIL_BATCH:
                return total

    def run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.poll()
            except CordonError as exc:  # the store is busy or down: try again
                log.warning("local tail: %s", exc)

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="cordon-local-tail", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
