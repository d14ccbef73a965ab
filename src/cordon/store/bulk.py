"""Fast multi-row inserts: COPY on PostgreSQL, one prepared executemany on SQLite.

The ORM and SQLAlchemy's generic executemany cost tens of microseconds per row, which is
most of a million-row import; these paths cost about one.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Connection, Table, func, select, text

from cordon.store.models import entries
from cordon.store.types import UTCDateTime


def allocate_entry_ids(connection: Connection, count: int) -> list[int]:
    """Ids for `count` new entries. Callers hold the write lock (see `Writer`)."""
    if count == 0:
        return []
    if connection.dialect.name == "postgresql":
        query = text(
            "SELECT nextval(pg_get_serial_sequence('entries', 'id')) FROM generate_series(1, :n)"
        )
        return [row[0] for row in connection.execute(query, {"n": count})]
    # SQLite numbers rows max(id) + 1 too; entries are never deleted, only withdrawn.
    start = connection.execute(select(func.coalesce(func.max(entries.c.id), 0))).scalar_one()
    return list(range(start + 1, start + count + 1))


def bulk_insert(
    connection: Connection, table: Table, columns: Sequence[str], rows: list[tuple[Any, ...]]
) -> None:
    """Insert rows given as tuples in `columns` order. Datetimes must be aware UTC and JSON
    columns plain objects; both are converted here for the backend."""
    if not rows:
        return
    json_columns = [i for i, name in enumerate(columns) if isinstance(table.c[name].type, JSON)]
    if json_columns:
        rows = [_dump_json(row, json_columns) for row in rows]
    names = ", ".join(columns)
    if connection.dialect.name == "postgresql":
        # Datetimes go as their ISO text, formatted once per distinct value (a batch shares
        # one timestamp): the driver's datetime dumper was most of the cost of COPYing
        # entries rows.
        iso = {
            i: _memoized(_isoformat)
            for i, name in enumerate(columns) if isinstance(table.c[name].type, UTCDateTime)
        }
        if iso:
            rows = [_convert(row, iso) for row in rows]
        cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        with cursor, cursor.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    dialect = connection.dialect
    converters = {
        i: _memoized(table.c[name].type.dialect_impl(dialect).bind_processor(dialect))
        for i, name in enumerate(columns)
        if isinstance(table.c[name].type, UTCDateTime)
    }
    if converters:
        rows = [_convert(row, converters) for row in rows]
    marks = ", ".join("?" for _ in columns)
    connection.exec_driver_sql(f"INSERT INTO {table.name} ({names}) VALUES ({marks})", rows)


def _dump_json(row: tuple[Any, ...], indexes: list[int]) -> tuple[Any, ...]:
    values = list(row)
    for i in indexes:
        if values[i] is not None:
            values[i] = json.dumps(values[i], separators=(",", ":"))
    return tuple(values)


def _isoformat(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _memoized(processor: Callable[[Any], Any] | None) -> Callable[[Any], Any]:
    # A batch shares one timestamp: convert each distinct value once.
    cache: dict[Any, Any] = {None: None}

    def convert(value: Any) -> Any:
        if value not in cache:
            cache[value] = processor(value) if processor is not None else value
        return cache[value]

    return convert


def _convert(row: tuple[Any, ...], converters: dict[int, Callable[[Any], Any]]) -> tuple[Any, ...]:
    values = list(row)
    for i, convert in converters.items():
        values[i] = convert(values[i])
    return tuple(values)
