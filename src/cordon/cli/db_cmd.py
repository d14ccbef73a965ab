"""`cordon db`: database maintenance."""

from __future__ import annotations

import click

from cordon.cli.bank_cmd import DB_OPTION
from cordon.store import Store


@click.group("db")
def db_group() -> None:
    """Database maintenance (migrations run on first use anyway)."""


@db_group.command("upgrade")
@DB_OPTION
def upgrade_command(database_url: str | None) -> None:
    """Bring the database schema to the newest revision."""
    if database_url is None:
        root = click.get_current_context().find_root()
        database_url = (root.obj or {}).get("database_url") if isinstance(root.obj, dict) \
            else None
    store = Store(database_url, auto_migrate=False)
    try:
        before, after = store.upgrade()
    finally:
        store.close()
    if before == after:
        click.echo(f"{store.display_url}: already at revision {after}")
    else:
        click.echo(f"{store.display_url}: upgraded from {before or 'empty'} to revision {after}")
