"""`cordon node report|order|purge|statements`: moderation work on the node's database."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import click

from cordon.cli.bank_cmd import DB_OPTION
from cordon.cli.output import FORMAT_OPTION, print_json, progress_bar
from cordon.errors import CordonError


def _context(database_url: str | None) -> Any:
    from cordon.cli.hub_cmd import _database_url
    from cordon.node.moderation.context import Context
    from cordon.node.moderation.settings import beside_store, from_env
    from cordon.node.moderation.vault import Vault
    from cordon.node.service import Node
    from cordon.node.settings import NodeSettings
    from cordon.store import Store

    url = _database_url(database_url)
    store = Store(url)
    settings = from_env()
    if store.dialect == "sqlite":
        settings = beside_store(settings, store.url.database)
    return Context(Node(store, NodeSettings(database_url=url)), settings, Vault(settings))


@click.command("report")
@click.option("--year", type=click.IntRange(1970, 9998), required=True,
              help="The calendar year (in the platform's time zone).")
@DB_OPTION
@FORMAT_OPTION
def report_command(year: int, database_url: str | None, output_format: str) -> None:
    """The yearly transparency report: notices, orders, removals, appeals, accuracy."""
    from cordon.node.moderation import transparency

    data = transparency.report(_context(database_url), year)
    if output_format == "json":
        print_json(data)
    else:
        click.echo(transparency.render_text(data))


@click.group("order")
def order_group() -> None:
    """Removal orders from competent authorities (one hour to execute)."""


@order_group.command("add")
@click.option("--authority", required=True, help="The authority that issued the order.")
@click.option("--reference", required=True, help="The order's reference.")
@click.option("--url", "urls", multiple=True, required=True, metavar="URL",
              help="Content the order names (repeat).")
@click.option("--received-at", metavar="TIME",
              help="When the order was received, ISO 8601 with a zone (default: now).")
@click.option("--account", help="The platform account of the content, if known.")
@click.option("--by", default="cli", show_default=True, help="Who registers the order.")
@DB_OPTION
@FORMAT_OPTION
def order_add(authority: str, reference: str, urls: tuple[str, ...], received_at: str | None,
              account: str | None, by: str, database_url: str | None,
              output_format: str) -> None:
    """Register a removal order: it goes to the top of the review queue."""
    from pydantic import ValidationError

    from cordon.node.moderation import orders

    try:
        body = orders.OrderIn(authority=authority, reference=reference, urls=list(urls),
                              received_at=datetime.fromisoformat(received_at)
                              if received_at else None, account=account)
    except ValueError as exc:
        if isinstance(exc, ValidationError):
            first = exc.errors()[0]
            raise CordonError(f"{'.'.join(map(str, first['loc']))}: {first['msg']}") from None
        raise CordonError(f"--received-at: {exc}") from None
    order = orders.register(_context(database_url), body, by)
    if output_format == "json":
        print_json(order)
    else:
        click.echo(f"order {order['id']} ({order['reference']}) registered as case "
                   f"{order['case']}; execute by {order['deadline_at']}")


@order_group.command("list")
@DB_OPTION
@FORMAT_OPTION
def order_list(database_url: str | None, output_format: str) -> None:
    """Removal orders, newest first, with their execution times."""
    from cordon.node.moderation import orders

    items = orders.listing(_context(database_url))
    if output_format == "json":
        for item in items:
            print_json(item)
        return
    for o in items:
        state = (f"executed in {o['execution_seconds']:.0f} s" if o["executed_at"]
                 else f"{o['seconds_left']:.0f} s left")
        click.echo(f"{o['id']:>5}  {o['received_at']}  {_printable(o['authority'])[:30]:<30}  "
                   f"{_printable(o['reference'])[:20]:<20}  {state}")


def _printable(text: str) -> str:
    """Text from outside (an authority's name) without control characters, so that it
    cannot move the cursor or recolour the terminal."""
    return "".join(c if c.isprintable() else "?" for c in text)


@click.command("purge")
@DB_OPTION
@FORMAT_OPTION
@click.option("--progress/--no-progress", default=True, help="Show a progress bar.")
def purge_command(database_url: str | None, output_format: str, progress: bool) -> None:
    """Purge preserved content whose time has come (and finish an interrupted purge)."""
    from cordon.node.moderation import preservation

    ctx = _context(database_url)
    with progress_bar(None, "purging", progress and output_format == "text") as bar:
        def advance(done: int, total: int) -> None:
            if bar is not None:
                bar[0].update(bar[1], completed=done, total=total)
        result = preservation.purge(ctx, progress=advance)
    if output_format == "json":
        print_json(result)
    else:
        click.echo(f"purged {result['purged']} preserved item(s)")


@click.command("statements")
@click.option("--platform", default="cordon", show_default=True,
              help="Prefix of the platform unique ids (puid).")
@click.option("--territory", "territory", multiple=True, metavar="CC",
              help="A country where the decisions apply (territorial_scope; repeat).")
@DB_OPTION
def statements_command(platform: str, territory: tuple[str, ...],
                       database_url: str | None) -> None:
    """Statements of reasons in the DSA Transparency Database fields, one JSON per line."""
    from cordon.node.moderation import statements

    for record in statements.dsa_export(_context(database_url), platform,
                                        territory=territory):
        print_json(record)


def register(group: click.Group) -> None:
    for command in (report_command, order_group, purge_command, statements_command):
        group.add_command(command)
