"""Engines for SQLite (WAL, busy timeout, immediate write transactions) and PostgreSQL,
and the translation of driver failures into one-sentence errors."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError

from cordon.config import DEFAULT_BUSY_TIMEOUT
from cordon.errors import CordonError


class StoreError(CordonError):
    """The database failed at run time (locked, read-only, unreachable): not a usage error."""

    exit_code = 1


# PostgreSQL connections per process. A server runs its blocking handlers on a pool of 40
# threads (AnyIO's default) and each may hold a connection: with SQLAlchemy's default of 15,
# under 100 concurrent clients most threads waited for a connection while holding a thread.
# Ten stay open, thirty more open under load; several processes need PostgreSQL's
# `max_connections` (default 100) above 40 per process.
PG_POOL_SIZE = 10
PG_POOL_OVERFLOW = 30
# Seconds a request waits for a connection before it fails.
PG_POOL_TIMEOUT = 60

# Execution option that marks a connection as about to write (SQLite: BEGIN IMMEDIATE).
WRITE_OPTION = "cordon_write"


def parse_url(url: str) -> URL:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise CordonError(
            f"{url!r} is not a database URL (e.g. postgresql+psycopg://...)"
        ) from None
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise CordonError(
            f"unsupported database {parsed.get_backend_name()!r}: use sqlite or postgresql"
        )
    return parsed


def display_url(url: URL) -> str:
    if url.get_backend_name() == "sqlite":
        return url.database or ":memory:"
    return url.render_as_string(hide_password=True)


def sqlite_file(url: URL) -> Path | None:
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def create_db_engine(url: URL, busy_timeout: float = DEFAULT_BUSY_TIMEOUT) -> Engine:
    if url.get_backend_name() == "postgresql":
        return create_engine(url, pool_pre_ping=True, pool_size=PG_POOL_SIZE,
                             max_overflow=PG_POOL_OVERFLOW, pool_timeout=PG_POOL_TIMEOUT,
                             connect_args={"connect_timeout": 10})
    path = sqlite_file(url)
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CordonError(
                f"cannot create the directory {path.parent} for the database "
                f"({(exc.strerror or str(exc)).lower()})"
            ) from None
    engine = create_engine(url, connect_args={"timeout": busy_timeout})
    _configure_sqlite(engine)
    return engine


def _configure_sqlite(engine: Engine) -> None:
    # The driver's own transaction handling starts transactions lazily and in DEFERRED mode,
    # which lets two writers deadlock on the lock upgrade; take control of BEGIN instead.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA foreign_keys=ON")
            # A read-only file keeps its journal mode; reading still works.
            with contextlib.suppress(Exception):
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        writing = connection.get_execution_options().get(WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if writing else "BEGIN")


def translate_error(exc: DBAPIError, url: URL, busy_timeout: float) -> StoreError:
    """One sentence for a database failure that the person running Cordon can act on."""
    where = display_url(url)
    detail = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else str(exc)
    lowered = detail.lower()
    if "database is locked" in lowered or "database table is locked" in lowered:
        return StoreError(
            f"the database {where} is locked by another writer and stayed locked for "
            f"{busy_timeout:g} s; try again when the other write has finished"
        )
    if "readonly database" in lowered or "read-only" in lowered:
        return StoreError(f"the database {where} is read-only; cannot write to it")
    if "unable to open database file" in lowered:
        return StoreError(f"cannot open the database file {where} (check its directory exists "
                           "and is writable)")
    if "file is not a database" in lowered:
        return StoreError(f"{where} is not an SQLite database")
    if "disk is full" in lowered or "no space left" in lowered:
        return StoreError(f"the disk holding the database {where} is full")
    if url.get_backend_name() == "postgresql" and (
        "connection" in lowered or "could not" in lowered or "does not exist" in lowered
    ):
        return StoreError(f"cannot use the database {where}: {detail}")
    return StoreError(f"database error on {where}: {detail}")
