"""Storage: SQLAlchemy models, the Alembic migrations and the repositories.

SQLite by default (one file under CORDON_HOME), PostgreSQL when a URL says so; the same
code and migrations serve both.
"""

from cordon.store.database import Store, Writer
from cordon.store.engine import StoreError

__all__ = ["Store", "StoreError", "Writer"]
