"""`cordon hub`: run the hub, manage its members and tokens, and talk to a hub over HTTP."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import click

from cordon.banks import AUTO, FORMATS
from cordon.cli.bank_cmd import DB_OPTION
from cordon.cli.output import FORMAT_OPTION, print_json, warn
from cordon.errors import CordonError
from cordon.hub.settings import DEFAULT_PORT, HubSettings

HUB_OPTIONS = [
    click.option("--hub", "hub_url", envvar="CORDON_HUB_URL", metavar="URL",
                 default=f"http://127.0.0.1:{DEFAULT_PORT}", show_default=True,
                 help="The hub's address (or $CORDON_HUB_URL)."),
    click.option("--token", envvar="CORDON_HUB_TOKEN", metavar="T", default="",
                 show_default=False, help="A member token (or $CORDON_HUB_TOKEN)."),
]


def hub_options(command: Any) -> Any:
    for option in reversed(HUB_OPTIONS):
        command = option(command)
    return command


def _database_url(database_url: str | None) -> str | None:
    if database_url is None:
        root = click.get_current_context().find_root()
        if isinstance(root.obj, dict):
            database_url = root.obj.get("database_url")
    return database_url


def _hub(database_url: str | None) -> Any:
    from cordon.hub.service import Hub
    from cordon.store import Store

    return Hub(Store(_database_url(database_url)))


def _client(hub_url: str, token: str) -> Any:
    from cordon.hub.client import HubClient

    return HubClient(hub_url, token)


@click.group("hub")
def hub_group() -> None:
    """The shared hash database: serve it, manage members, contribute to and follow it."""


@hub_group.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=DEFAULT_PORT, show_default=True)
@DB_OPTION
@click.option("--rate-limit", type=click.FloatRange(0), default=HubSettings.rate_limit,
              show_default=True, help="Requests per second per token (0: no limit).")
@click.option("--burst", type=click.IntRange(1), default=HubSettings.rate_burst,
              show_default=True, help="Requests a token may send at once.")
@click.option("--max-body", type=click.IntRange(1024), default=HubSettings.max_body_bytes,
              show_default=True, help="Largest request body, in bytes.")
@click.option("--dispute-threshold", type=click.IntRange(1),
              default=HubSettings.dispute_threshold, show_default=True,
              help="False-positive reports (from different members) that mark an entry "
                   "disputed.")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Worker processes (PostgreSQL keeps their streams in step).")
def serve_command(host: str, port: int, database_url: str | None, rate_limit: float,
                  burst: int, max_body: int, dispute_threshold: int, workers: int) -> None:
    """Run the hub service (API docs at /docs, OpenAPI at /openapi.json)."""
    import uvicorn

    from cordon.hub.app import create_app
    from cordon.hub.runtime import KEEP_ALIVE_SECONDS, tune_gc
    from cordon.store import Store

    url = _database_url(database_url)
    store = Store(url)  # migrate (and fail) before listening
    settings = HubSettings(database_url=url, rate_limit=rate_limit, rate_burst=burst,
                           max_body_bytes=max_body, dispute_threshold=dispute_threshold)
    click.echo(f"cordon hub on http://{host}:{port} with {store.display_url}", err=True)
    if workers > 1:
        if store.dialect != "postgresql":
            raise CordonError("several workers need PostgreSQL (SQLite has one writer)")
        store.close()
        import os

        from cordon.server_processes import serve_processes

        os.environ["CORDON_HUB_SETTINGS"] = json.dumps(settings.__dict__)
        serve_processes("cordon.hub.factory:app_from_environment", host, port, workers,
                        log_level="info", timeout_keep_alive=KEEP_ALIVE_SECONDS)
        return
    app = create_app(settings, store)
    tune_gc()
    uvicorn.run(app, host=host, port=port, log_level="info",
                timeout_keep_alive=KEEP_ALIVE_SECONDS)


@hub_group.group("member")
def member_group() -> None:
    """Members (platforms) of the hub. Run on the hub's database."""


@member_group.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(["admin", "contributor", "reader"]),
              default="contributor", show_default=True)
@DB_OPTION
@FORMAT_OPTION
def member_add(name: str, role: str, database_url: str | None, output_format: str) -> None:
    """Add member NAME and print its first token (shown once, stored hashed)."""
    member, token_id, token = _hub(database_url).add_member(name, role)
    if output_format == "json":
        print_json({"name": member.name, "role": member.role, "token": token,
                    "token_id": token_id})
    else:
        click.echo(f"added {member.role} {member.name}; token {token_id} (shown only once):")
        click.echo(token)


@member_group.command("list")
@DB_OPTION
@FORMAT_OPTION
def member_list(database_url: str | None, output_format: str) -> None:
    """List the members, their roles and live token ids."""
    members = _hub(database_url).members()
    if output_format == "json":
        for member in members:
            print_json(member)
        return
    for m in members:
        tokens = ", ".join(str(t["id"]) for t in m["tokens"]) or "none"
        click.echo(f"{m['name']}\t{m['role']}\ttokens: {tokens}")


@hub_group.group("token")
def token_group() -> None:
    """Member tokens. Run on the hub's database."""


@token_group.command("issue")
@click.argument("member")
@DB_OPTION
@FORMAT_OPTION
def token_issue(member: str, database_url: str | None, output_format: str) -> None:
    """Issue another token for MEMBER (e.g. to rotate one)."""
    token_id, token = _hub(database_url).issue_token(member)
    if output_format == "json":
        print_json({"name": member, "token_id": token_id, "token": token})
    else:
        click.echo(f"token {token_id} for {member} (shown only once):")
        click.echo(token)


@token_group.command("revoke")
@click.argument("token_id", type=click.IntRange(1))
@DB_OPTION
@FORMAT_OPTION
def token_revoke(token_id: int, database_url: str | None, output_format: str) -> None:
    """Revoke token TOKEN_ID (see `cordon hub member list`); it stops working at once."""
    name = _hub(database_url).revoke_token(token_id)
    if output_format == "json":
        print_json({"token_id": token_id, "member": name, "revoked": True})
    else:
        click.echo(f"revoked token {token_id} of {name}")


# --- talking to a hub ------------------------------------------------------------------------
@hub_group.command("banks")
@hub_options
@FORMAT_OPTION
def banks_command(hub_url: str, token: str, output_format: str) -> None:
    """List the banks of the hub you may see."""
    with _client(hub_url, token) as client:
        banks = client.banks()
    for bank in banks:
        if output_format == "json":
            print_json(bank)
        else:
            shared = ", ".join(bank["shared_with"]) or "owner only"
            click.echo(f"{bank['name']}\towner {bank['owner'] or '-'}\tshared with {shared}")


@hub_group.command("create-bank")
@click.argument("name")
@click.option("--description", default=None)
@click.option("--share", "shared_with", multiple=True, metavar="MEMBER",
              help="A member to share with; '*' for every member. Repeatable.")
@hub_options
@FORMAT_OPTION
def create_bank_command(name: str, description: str | None, shared_with: tuple[str, ...],
                        hub_url: str, token: str, output_format: str) -> None:
    """Create bank NAME on the hub."""
    with _client(hub_url, token) as client:
        bank = client.create_bank(name, description, list(shared_with))
    if output_format == "json":
        print_json(bank)
    else:
        click.echo(f"created bank {bank['name']}")


@hub_group.command("update-bank")
@click.argument("name")
@click.option("--description", default=None, help="The new description ('' clears it).")
@click.option("--share", "shared_with", multiple=True, metavar="MEMBER",
              help="Share with this member instead ('*' for every member). Repeatable; "
                   "replaces whom the bank is shared with.")
@click.option("--owner-only", is_flag=True,
              help="Share with nobody but the bank's owner (and admins).")
@hub_options
@FORMAT_OPTION
def update_bank_command(name: str, description: str | None, shared_with: tuple[str, ...],
                        owner_only: bool, hub_url: str, token: str, output_format: str) -> None:
    """Change bank NAME's description or sharing (admins). Members that gain access find
    its entries in their feed again; members that lose it see no later change."""
    if owner_only and shared_with:
        raise CordonError("give --share or --owner-only, not both")
    changes: dict[str, Any] = {}
    if description is not None:
        changes["description"] = description
    if shared_with or owner_only:
        changes["shared_with"] = list(shared_with)
    if not changes:
        raise CordonError("nothing to change: give --share, --owner-only or --description")
    with _client(hub_url, token) as client:
        bank = client.update_bank(name, changes)
    if output_format == "json":
        print_json(bank)
    else:
        shared = ", ".join(bank["shared_with"]) or "owner only"
        click.echo(f"bank {bank['name']}: shared with {shared}"
                   + (f"; {bank['renumbered']} entries sent to the feed again"
                      if bank["renumbered"] else ""))


@hub_group.command("contribute")
@click.argument("bank")
@click.option("--signal", "signals", multiple=True, metavar="TYPE=HASH",
              help="A signal of the entry (repeatable), e.g. pdq=f8f8...")
@click.option("--label", "labels", multiple=True, help="A label (repeatable), see docs/labels.md.")
@click.option("--content-type", type=click.Choice(["image", "video", "other"]))
@click.option("--incident", default=None)
@click.option("--note", default=None)
@click.option("--file", "path", metavar="FILE",
              help="JSON lines of entries in the API's shape instead (- for stdin).")
@hub_options
@FORMAT_OPTION
def contribute_command(bank: str, signals: tuple[str, ...], labels: tuple[str, ...],
                       content_type: str | None, incident: str | None, note: str | None,
                       path: str | None, hub_url: str, token: str, output_format: str) -> None:
    """Contribute one entry (--signal ...) or a file of entries to BANK; prints the ids."""
    entries = _entries_from_file(path) if path else []
    if signals:
        parsed: dict[str, str] = {}
        for item in signals:
            name, sep, value = item.partition("=")
            if not sep or not name or not value:
                raise CordonError(f"--signal {item!r}: expected TYPE=HASH")
            parsed[name.strip()] = value.strip()
        entries.append({"signals": parsed, "labels": list(labels), "content_type": content_type,
                        "incident": incident, "note": note})
    if not entries:
        raise CordonError("nothing to contribute: give --signal TYPE=HASH or --file FILE")
    ids: list[int] = []
    with _client(hub_url, token) as client:
        for start in range(0, len(entries), 10_000):
            ids.extend(client.contribute(bank, entries[start : start + 10_000]))
    if output_format == "json":
        print_json({"bank": bank, "ids": ids})
    else:
        click.echo(" ".join(str(i) for i in ids))


def _entries_from_file(path: str) -> list[dict[str, Any]]:
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CordonError(f"cannot read {path}: {exc.__class__.__name__}") from None
    entries = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            raise CordonError(f"{path} line {number}: not valid JSON") from None
        if not isinstance(entry, dict):
            raise CordonError(f"{path} line {number}: expected a JSON object")
        entries.append(entry)
    return entries


@hub_group.command("import")
@click.argument("bank")
@click.argument("file")
@click.option("--format", "input_format", type=click.Choice([AUTO, *FORMATS]), default=AUTO,
              show_default=True)
@hub_options
@click.option("--output-format", "output_format", type=click.Choice(["text", "json"]),
              default="text", show_default=True,
              help="The summary for people (text) or programs (json).")
def import_command(bank: str, file: str, input_format: str, hub_url: str, token: str,
                   output_format: str) -> None:
    """Import a hash list FILE (- for stdin) into BANK on the hub."""
    try:
        data = sys.stdin.buffer.read() if file == "-" else Path(file).read_bytes()
    except OSError as exc:
        raise CordonError(f"cannot read {file}: {(exc.strerror or str(exc)).lower()}") from None
    with _client(hub_url, token) as client:
        summary = client.import_list(bank, data, input_format)
    if output_format == "json":
        print_json(summary)
    else:
        click.echo(f"imported {file} into {bank}: {summary['records']} record(s), "
                   f"{summary['created']} new, {summary['updated']} updated, "
                   f"{summary['unchanged']} unchanged, {summary['skipped']} skipped")
        for problem in summary["problems"][:20]:
            warn(f"{problem['location']}: {problem['message']}")
    if summary["skipped"]:
        raise SystemExit(1)


@hub_group.command("export")
@click.argument("bank")
@click.option("--format", "export_format", type=click.Choice(FORMATS), default="jsonl",
              show_default=True)
@click.option("--include-withdrawn", is_flag=True)
@hub_options
def export_command(bank: str, export_format: str, include_withdrawn: bool, hub_url: str,
                   token: str) -> None:
    """Export BANK from the hub to standard output."""
    with _client(hub_url, token) as client:
        for text in client.export(bank, export_format, include_withdrawn):
            sys.stdout.write(text)
    sys.stdout.flush()


@hub_group.command("withdraw")
@click.argument("entry_id", type=click.IntRange(1))
@hub_options
@FORMAT_OPTION
def withdraw_command(entry_id: int, hub_url: str, token: str, output_format: str) -> None:
    """Withdraw entry ENTRY_ID (yours, or any as an admin)."""
    with _client(hub_url, token) as client:
        result = client.withdraw(entry_id)
    if output_format == "json":
        print_json(result)
    else:
        click.echo(f"withdrew entry {entry_id}" if result["changed"]
                   else f"entry {entry_id} was already withdrawn")


@hub_group.command("feedback")
@click.argument("entry_id", type=click.IntRange(1))
@click.argument("verdict", type=click.Choice(["confirm", "false_positive", "disagree_label"]))
@click.option("--note", default=None)
@hub_options
@FORMAT_OPTION
def feedback_command(entry_id: int, verdict: str, note: str | None, hub_url: str, token: str,
                     output_format: str) -> None:
    """Give your verdict on entry ENTRY_ID (it replaces your previous one)."""
    with _client(hub_url, token) as client:
        result = client.feedback(entry_id, verdict, note)
    if output_format == "json":
        print_json(result)
    else:
        fb = result["feedback"]
        click.echo(f"entry {entry_id}: {fb['confirm']} confirm, {fb['false_positive']} false "
                   f"positive, {fb['disagree_label']} disagree label"
                   + (" (disputed)" if result["disputed"] else ""))


@hub_group.command("feed")
@click.option("--cursor", default=None, help="Where the previous read stopped.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=1000, show_default=True)
@click.option("--skip-disputed", is_flag=True)
@click.option("--follow", is_flag=True, help="Keep polling for changes (every 2 s).")
@hub_options
def feed_command(cursor: str | None, limit: int, skip_disputed: bool, follow: bool,
                 hub_url: str, token: str) -> None:
    """Print the changes after --cursor as JSON lines; the next cursor goes to stderr."""
    with _client(hub_url, token) as client:
        while True:
            page = client.feed(cursor, limit, skip_disputed)
            for entry in page["entries"]:
                print_json(entry)
            cursor = page["cursor"]
            if page["more"]:
                continue
            if not follow:
                break
            time.sleep(2)
    click.echo(f"cursor {cursor}", err=True)
