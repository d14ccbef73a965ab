"""Shared fixtures. Storage tests run against SQLite (a temporary file) and PostgreSQL
(the server named by CORDON_TEST_POSTGRES; a fresh database per test session, a fresh schema
per test)."""

from __future__ import annotations

import itertools
import os
import secrets
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from cordon.banks import Banks
from cordon.store import Store

POSTGRES_ENV = "CORDON_TEST_POSTGRES"
_schemas = itertools.count(1)


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """URL of a database created for this test session and dropped after it."""
    url = os.environ.get(POSTGRES_ENV, "").strip()
    if not url:
        reason = (f"{POSTGRES_ENV} is not set (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/"
                  "postgres); scripts/test sets it when the local server is up")
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL tests cannot be skipped in CI: {reason}")
        pytest.skip(f"PostgreSQL variant skipped: {reason}")
    name = f"cordon_test_{os.getpid()}_{secrets.token_hex(4)}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        yield make_url(url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def _fresh_schema(database_url: str) -> str:
    schema = f"test_{next(_schemas)}"
    engine = create_engine(database_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    engine.dispose()
    url = make_url(database_url).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """An empty database of each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('db') / 'cordon.db'}"
    return _fresh_schema(request.getfixturevalue("postgres_database"))


@pytest.fixture()
def store(database_url: str) -> Iterator[Store]:
    with Store(database_url) as opened:
        yield opened


@pytest.fixture()
def banks(store: Store) -> Banks:
    return Banks(store)
