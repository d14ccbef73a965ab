"""Alembic migrations of the store (applied by `cordon.store.migrate`)."""
