"""Applying the packaged Alembic migrations, on first use or through `cordon db upgrade`."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text

from cordon.errors import CordonError
from cordon.store.engine import WRITE_OPTION

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Any constant works; it only has to be the same for every process migrating this database.
_PG_MIGRATION_LOCK = 0x636F72646F6E


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


@cache
def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def check_known(revision: str | None) -> None:
    if revision is None:
        return
    script = ScriptDirectory.from_config(alembic_config())
    try:
        script.get_revision(revision)
    except Exception:
        raise CordonError(
            f"the database is at schema revision {revision!r}, which this version of Cordon "
            "does not know; upgrade Cordon"
        ) from None


def needs_upgrade(engine: Engine) -> bool:
    with engine.connect() as connection, connection.begin():
        revision = current_revision(connection)
    check_known(revision)
    return revision != head_revision()


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Bring the schema to the newest revision; returns (revision before, revision after).

    Concurrent first uses are safe: SQLite serializes them with BEGIN IMMEDIATE, PostgreSQL
    with an advisory lock, and the second one finds the work done.
    """
    writing = engine.connect().execution_options(**{WRITE_OPTION: True})
    with writing as connection, connection.begin():
        if connection.dialect.name == "postgresql":
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK}
            )
        before = current_revision(connection)
        check_known(before)
        if before != head_revision():
            command.upgrade(alembic_config(connection), "head")
    return before, head_revision()
