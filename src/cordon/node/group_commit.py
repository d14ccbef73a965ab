"""Group commit: small writes of many request threads share one transaction.

A match is recorded (match log rows, webhook outbox rows) before its response is sent, so a
response never reports a match the node could lose. Committing each match alone makes the
store's single write lock the bottleneck under load; here a writer thread takes every write
waiting at that moment, runs them in one transaction and wakes their callers after the
commit. Each caller still waits for its own commit and gets its own result or error: should
the shared transaction fail, the writes are run again one per transaction, so one bad write
cannot fail the others.

Several processes of one node (`serve --workers N`) each have a writer thread; on SQLite
their transactions take the database's one write lock, and a transaction that finds it taken
polls for it with growing sleeps (1, 2, 5, 10 ms...), so a match could wait a few sleeps for
a commit of a millisecond. With `serialise_with` the writers queue on an exclusive lock of a
shared file first, which wakes the next one as soon as the lock is released.

A coroutine waits for its write with `run_async`: the writer settles a future on the caller's
event loop, so the request needs no thread of its own. Under load every thread hand-over
(event loop to pool thread to writer and back) waits for the interpreter lock and for a core;
a match answered through a pool thread made four such hand-overs, through `run_async` two.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import queue
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection

from cordon.errors import CordonError

log = logging.getLogger("cordon.node.group_commit")

T = TypeVar("T")
Transaction = Callable[[], AbstractContextManager[Connection]]


class _Write(Generic[T]):
    __slots__ = ("done", "error", "future", "result", "work")

    def __init__(self, work: Callable[[Connection], T],
                 future: asyncio.Future[T] | None = None) -> None:
        self.work = work
        self.done = threading.Event()
        self.future = future
        self.result: T | None = None
        self.error: BaseException | None = None

    def finish(self) -> None:
        self.done.set()
        future = self.future
        if future is not None:
            # The loop is gone when its server stopped before this commit: nobody waits.
            with contextlib.suppress(RuntimeError):
                future.get_loop().call_soon_threadsafe(self._settle, future)

    def _settle(self, future: asyncio.Future[T]) -> None:
        if future.done():  # the caller was cancelled (its client went away)
            return
        if self.error is not None:
            future.set_exception(self.error)
        else:
            future.set_result(self.result)  # type: ignore[arg-type]


class GroupCommit:
    def __init__(self, transaction: Transaction, *, max_batch: int = 256) -> None:
        self._transaction = transaction
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[_Write[Any] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._closed = False
        self._file_lock: int | None = None

    def serialise_with(self, path: str) -> None:
        """Take an exclusive lock on the file `path` around each transaction: the writers of
        other processes using the same file take turns with this one (see the module notes)."""
        self._file_lock = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)

    @contextmanager
    def _turn(self) -> Iterator[None]:
        if self._file_lock is None:
            yield
            return
        fcntl.flock(self._file_lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._file_lock, fcntl.LOCK_UN)

    def run(self, work: Callable[[Connection], T]) -> T:
        """Run `work(connection)` in a shared write transaction; returns after the commit."""
        if self._closed:
            raise CordonError("the node is shutting down")
        self._ensure_thread()
        write = _Write(work)
        self._queue.put(write)
        write.done.wait()
        if write.error is not None:
            raise write.error
        return write.result  # type: ignore[return-value]

    async def run_async(self, work: Callable[[Connection], T]) -> T:
        """`run` for a coroutine: the event loop goes on while the writer commits."""
        if self._closed:
            raise CordonError("the node is shutting down")
        self._ensure_thread()
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.put(_Write(work, future))
        return await future

    def _ensure_thread(self) -> None:
        if self._thread is not None:
            return
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="cordon-group-commit",
                                                daemon=True)
                self._thread.start()

    def close(self, timeout: float = 10.0) -> None:
        """Commit what is waiting, then stop the writer thread."""
        self._closed = True
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout)
        if self._file_lock is not None and (self._thread is None or
                                            not self._thread.is_alive()):
            os.close(self._file_lock)
            self._file_lock = None

    def _loop(self) -> None:
        while True:
            first = self._queue.get()
            batch: list[_Write[Any]] = [] if first is None else [first]
            stop = first is None
            while len(batch) < self.max_batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                else:
                    batch.append(more)
            if batch:
                self._commit(batch)
            if stop:
                return

    def _commit(self, batch: list[_Write[Any]]) -> None:
        try:
            with self._turn(), self._transaction() as connection:
                results = [write.work(connection) for write in batch]
        except BaseException as exc:
            if len(batch) == 1:
                batch[0].error = exc
                batch[0].finish()
                return
            for write in batch:
                self._one(write)
            return
        for write, result in zip(batch, results, strict=True):
            write.result = result
            write.finish()

    def _one(self, write: _Write[Any]) -> None:
        try:
            with self._turn(), self._transaction() as connection:
                write.result = write.work(connection)
        except BaseException as exc:
            write.error = exc
        finally:
            write.finish()
