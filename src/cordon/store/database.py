"""The `Store`: one database (SQLite file or PostgreSQL), its schema kept current, and
transactions whose failures come out as one-sentence errors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from cordon.config import load_settings
from cordon.errors import CordonError
from cordon.store import migrate
from cordon.store.engine import (
    WRITE_OPTION,
    StoreError,
    create_db_engine,
    display_url,
    parse_url,
    translate_error,
)
from cordon.store.models import change_counter


class Writer:
    """A write transaction that holds the change counter.

    The counter row is locked for the whole transaction (SQLite: the database write lock,
    PostgreSQL: the row lock), so change numbers are handed out in commit order and a feed
    reader that has seen number N never later finds a smaller one appear.
    """

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        query = select(change_counter.c.value).where(change_counter.c.id == 1).with_for_update()
        self._start = self._last = connection.execute(query).scalar_one()

    def next_seqs(self, count: int) -> range:
        seqs = range(self._last + 1, self._last + count + 1)
        self._last += count
        return seqs

    def next_seq(self) -> int:
        return self.next_seqs(1)[0]

    def lock(self) -> None:
        """Hold the change counter from now on (this writer always does)."""

    def flush(self) -> None:
        if self._last != self._start:
            self.connection.execute(
                update(change_counter).where(change_counter.c.id == 1).values(value=self._last)
            )
            self._start = self._last


# Placeholder numbers per deferred transaction (a contribution uses one per entry).
_PLACEHOLDERS = 1 << 20


class DeferredWriter(Writer):
    """A PostgreSQL write transaction that takes the change counter at its end, not its start.

    New entries are written with placeholder change numbers: negative (a feed reads numbers
    above a cursor >= 0, so never these) and in a range of the transaction's own id (so two
    transactions never share one). Just before the commit, the counter's row lock is taken
    and the placeholders are renumbered after the counter's value in the order they were
    handed out, so numbers still become visible in the order they were taken; but the lock is
    held for one UPDATE and the commit instead of the whole transaction, and concurrent
    contributions check, copy and index their rows in parallel.

    Only entries rows may take placeholders (`flush` checks that it renumbered as many as it
    handed out). Changing existing rows under a placeholder could deadlock with a writer that
    holds the counter and wants the same rows: `lock()` first (`repository._merge_known` does).
    Two deferred writers may insert the same new key; the later fails with a unique
    violation (see `WriteConflict`), which is what the lock used to prevent.
    """

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        xid = connection.execute(text("SELECT txid_current()")).scalar_one()
        self._base = -((int(xid) % (1 << 42)) << 20)
        self._placeholders = 0
        self._locked = False
        self._start = self._last = 0

    def lock(self) -> None:
        if not self._locked:
            super().__init__(self.connection)
            self._locked = True

    def next_seqs(self, count: int) -> range:
        if not self._locked and self._placeholders + count > _PLACEHOLDERS:
            self.lock()
        if self._locked:
            return super().next_seqs(count)
        first = self._base - self._placeholders - 1
        self._placeholders += count
        return range(first, first - count, -1)

    def flush(self) -> None:
        if self._placeholders:
            self.lock()
            count = self._placeholders
            # Placeholder base - 1 - k becomes last + 1 + k. The new numbers are above every
            # number in use, so the unique index never sees one twice mid-statement.
            renumbered = self.connection.execute(
                text("UPDATE entries SET change_seq = :last + :base - change_seq "
                     "WHERE change_seq < :base AND change_seq >= :base - :count"),
                {"last": self._last, "base": self._base, "count": count},
            ).rowcount
            if renumbered != count:
                raise RuntimeError(f"{count} placeholder change numbers handed out, "
                                   f"{renumbered} renumbered")
            self._last += count
            self._placeholders = 0
        if self._locked:
            super().flush()


class WriteConflict(StoreError):
    """A deferred write lost a race: a concurrent transaction wrote one of the same keys (or
    the two deadlocked). Nothing was written; run it again holding the counter."""


# Unique violation, deadlock.
_CONFLICTS = ("23505", "40P01")


class Store:
    def __init__(
        self,
        url: str | None = None,
        *,
        busy_timeout: float | None = None,
        auto_migrate: bool = True,
    ) -> None:
        settings = load_settings(url)
        self.url = parse_url(settings.database_url)
        self.busy_timeout = settings.busy_timeout if busy_timeout is None else busy_timeout
        self.engine = create_db_engine(self.url, self.busy_timeout)
        if auto_migrate:
            self.ensure_schema()

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def display_url(self) -> str:
        return display_url(self.url)

    def ensure_schema(self) -> None:
        with self._translated():
            if migrate.needs_upgrade(self.engine):
                migrate.upgrade(self.engine)

    def upgrade(self) -> tuple[str | None, str]:
        with self._translated():
            return migrate.upgrade(self.engine)

    @contextmanager
    def _translated(self) -> Iterator[None]:
        try:
            yield
        except DBAPIError as exc:
            raise translate_error(exc, self.url, self.busy_timeout) from exc

    def readiness_problem(self) -> str | None:
        """Why a service on this store cannot serve yet (database down, schema behind), or
        None when it can; for /readyz."""
        try:
            if migrate.needs_upgrade(self.engine):
                return "the database schema is not current: run `cordon db upgrade`"
        except CordonError as exc:
            return str(exc)
        except Exception as exc:  # any driver failure means "not ready", never a 500
            return f"the database does not answer ({type(exc).__name__})"
        return None

    @contextmanager
    def plain_write(self) -> Iterator[Connection]:
        """A write transaction that takes no change number (audit records, members, match
        logs, rules, webhooks). Integrity errors pass through untranslated, so that callers
        can turn a conflict into their own answer."""
        try:
            with (
                self.engine.connect().execution_options(**{WRITE_OPTION: True}) as connection,
                connection.begin(),
            ):
                yield connection
        except DBAPIError as exc:
            if isinstance(exc, IntegrityError):
                raise
            raise translate_error(exc, self.url, self.busy_timeout) from exc

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self._translated(), self.engine.connect() as connection, connection.begin():
            yield connection

    @contextmanager
    def write(self, *, deferred: bool = False, retryable: bool = False) -> Iterator[Writer]:
        """A write transaction holding the change counter; `deferred` (PostgreSQL): taking
        it only at the end (see `DeferredWriter`). With `retryable`, a unique violation or a
        deadlock (which concurrent deferred writers can cause) raises `WriteConflict`."""
        retryable = retryable or deferred
        deferred = deferred and self.dialect == "postgresql"
        try:
            with (
                self.engine.connect().execution_options(**{WRITE_OPTION: True}) as connection,
                connection.begin(),
            ):
                writer = DeferredWriter(connection) if deferred else Writer(connection)
                yield writer
                writer.flush()
        except Exception as exc:
            # Through SQLAlchemy (DBAPIError) or straight from the driver (COPY, in
            # `cordon.store.bulk`).
            state = getattr(getattr(exc, "orig", exc), "sqlstate", None)
            if retryable and state in _CONFLICTS:
                raise WriteConflict(f"a concurrent write on {self.display_url} took the same "
                                    "keys first") from exc
            if isinstance(exc, DBAPIError):
                raise translate_error(exc, self.url, self.busy_timeout) from exc
            raise

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
