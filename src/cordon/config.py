"""Where Cordon keeps its state, from the environment.

`CORDON_HOME` holds the local files (the SQLite database by default); `CORDON_DATABASE_URL`
points at another database instead (PostgreSQL in production: `postgresql+psycopg://...`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from cordon.errors import CordonError

HOME_ENV = "CORDON_HOME"
DATABASE_URL_ENV = "CORDON_DATABASE_URL"
BUSY_TIMEOUT_ENV = "CORDON_DB_BUSY_TIMEOUT"
DATABASE_FILE = "cordon.db"
# How long a write waits for another writer of the same SQLite file before giving up.
DEFAULT_BUSY_TIMEOUT = 5.0


@dataclass(frozen=True)
class Settings:
    home: Path
    database_url: str
    busy_timeout: float = DEFAULT_BUSY_TIMEOUT


def cordon_home() -> Path:
    configured = os.environ.get(HOME_ENV, "").strip()
    if configured:
        return Path(configured).expanduser()
    return Path(platformdirs.user_data_dir("cordon", appauthor=False))


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def load_settings(database_url: str | None = None) -> Settings:
    """The settings in force: an explicit URL beats the environment, which beats the default."""
    home = cordon_home()
    url = (database_url or os.environ.get(DATABASE_URL_ENV, "")).strip()
    return Settings(
        home=home,
        database_url=url or sqlite_url(home / DATABASE_FILE),
        busy_timeout=_busy_timeout(),
    )


def _busy_timeout() -> float:
    text = os.environ.get(BUSY_TIMEOUT_ENV, "").strip()
    if not text:
        return DEFAULT_BUSY_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 3600:
        raise CordonError(f"{BUSY_TIMEOUT_ENV} must be a number of seconds from 0 to 3600")
    return value
