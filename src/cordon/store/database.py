"""The `Store`: one database (SQLite file or PostgreSQL), its schema kept current, and
transactions whose failures come out as one-sentence errors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from cordon.config import load_settings
from cordon.errors import CordonError
from cordon.store import migrate
from cordon.store.engine import (
    WRITE_OPTION,
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

    def flush(self) -> None:
        if self._last != self._start:
            self.connection.execute(
                update(change_counter).where(change_counter.c.id == 1).values(value=self._last)
            )
            self._start = self._last


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
    def write(self) -> Iterator[Writer]:
        with (
            self._translated(),
            self.engine.connect().execution_options(**{WRITE_OPTION: True}) as connection,
            connection.begin(),
        ):
            writer = Writer(connection)
            yield writer
            writer.flush()

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
