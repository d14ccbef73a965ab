"""The store: migrations, SQLite settings, change numbers, and database failures as
one-sentence errors."""

from __future__ import annotations

import sqlite3
from datetime import UTC
from pathlib import Path

import pytest
from sqlalchemy import select

from cordon.banks import Banks
from cordon.errors import CordonError
from cordon.store import Store, StoreError, migrate
from cordon.store.models import entries
from cordon.store.types import utcnow

PDQ = "f" * 64


def test_migrations_are_packaged_and_reach_head(store: Store) -> None:
    assert (migrate.MIGRATIONS_DIR / "env.py").is_file()
    assert list((migrate.MIGRATIONS_DIR / "versions").glob("0001_*.py"))
    with store.read() as connection:
        assert migrate.current_revision(connection) == migrate.head_revision()
    assert store.upgrade() == (migrate.head_revision(), migrate.head_revision())


def test_explicit_upgrade_of_an_empty_database(database_url: str) -> None:
    with Store(database_url, auto_migrate=False) as fresh:
        assert fresh.upgrade() == (None, migrate.head_revision())


def test_change_numbers_increase_with_every_write(banks: Banks) -> None:
    banks.create("b")
    first = banks.add("b", {"pdq": PDQ})
    second = banks.add("b", {"md5": "a" * 32})
    with banks.store.read() as connection:
        before = dict(connection.execute(select(entries.c.id, entries.c.change_seq)).all())
    banks.add("b", {"pdq": PDQ}, labels=["relabelled"])
    banks.withdraw("b", second)
    with banks.store.read() as connection:
        after = dict(connection.execute(select(entries.c.id, entries.c.change_seq)).all())
    assert before[first] < before[second] < after[first] < after[second]
    banks.add("b", {"pdq": PDQ}, labels=["relabelled"])  # no change, no new number
    with banks.store.read() as connection:
        assert dict(connection.execute(select(entries.c.id, entries.c.change_seq)).all()) == after


def test_timestamps_come_back_as_utc(banks: Banks) -> None:
    start = utcnow()
    banks.create("b")
    entry = banks.entry("b", banks.add("b", {"pdq": PDQ}))
    assert entry.created_at.tzinfo is UTC or entry.created_at.utcoffset().total_seconds() == 0
    assert start <= entry.created_at <= utcnow()


def test_sqlite_runs_in_wal_mode_with_the_database_under_cordon_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CORDON_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CORDON_DATABASE_URL", raising=False)
    with Store() as default:
        assert default.display_url == str(tmp_path / "home" / "cordon.db")
        with default.read() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_a_database_locked_by_another_writer_gives_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "cordon.db"
    with Store(f"sqlite:///{path}", busy_timeout=0.2) as store:
        banks = Banks(store)
        banks.create("b")
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(StoreError, match=r"locked by another writer .* 0\.2 s"):
                banks.add("b", {"pdq": PDQ})
            assert banks.summary("b").live == 0  # readers are not blocked by the writer
        finally:
            other.execute("ROLLBACK")
            other.close()
        banks.add("b", {"pdq": PDQ})
        assert banks.summary("b").live == 1


def test_a_read_only_database_reads_but_refuses_writes(tmp_path: Path) -> None:
    path = tmp_path / "cordon.db"
    with Store(f"sqlite:///{path}") as store:
        Banks(store).create("b")
    with Store(f"sqlite:///file:{path}?mode=ro&uri=true") as read_only:
        banks = Banks(read_only)
        assert [b.name for b in banks.list()] == ["b"]
        with pytest.raises(StoreError, match="read-only"):
            banks.add("b", {"pdq": PDQ})


def test_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "cordon.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="not an SQLite database"):
        Store(f"sqlite:///{path}")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://x/y", "unsupported database"),
        ("not a url", "not a database URL"),
        ("postgresql+psycopg://nobody@127.0.0.1:1/none", "cannot use the database"),
    ],
)
def test_bad_database_urls(url: str, message: str) -> None:
    with pytest.raises(CordonError, match=message):
        Store(url)


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "cordon.db"
    Store(f"sqlite:///{path}").close()
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE alembic_version SET version_num = '9999'")
    with pytest.raises(CordonError, match=r"revision '9999'.*upgrade Cordon"):
        Store(f"sqlite:///{path}")


def test_readiness_says_why_a_service_cannot_serve(tmp_path: Path) -> None:
    path = tmp_path / "cordon.db"
    store = Store(f"sqlite:///{path}")
    assert store.readiness_problem() is None
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE alembic_version SET version_num = '0001'")
    assert "not current" in (store.readiness_problem() or "")
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE alembic_version SET version_num = '9999'")
    assert "upgrade Cordon" in (store.readiness_problem() or "")
    store.close()
