"""`cordon bank`: create banks, fill them from files or hash lists, withdraw entries, export."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

import click

from cordon.banks import AUTO, FORMATS, Banks, ImportSummary, RawRecord
from cordon.cli.hash_cmd import hash_items, parse_frame_size
from cordon.cli.output import FORMAT_OPTION, hashing_options, print_json, progress_bar, warn
from cordon.errors import CordonError
from cordon.hashing import MatchingSelection, SignalSelection
from cordon.inputs import iter_inputs
from cordon.signals import HashOptions, all_signal_types, parse_signal_names
from cordon.store import Store

# Problems printed on stderr; all of them are counted in the summary.
SHOWN_PROBLEMS = 20

DB_OPTION = click.option(
    "--db",
    "database_url",
    metavar="URL",
    help="Database URL (default: $CORDON_DATABASE_URL, else $CORDON_HOME/cordon.db).",
)


def open_banks(database_url: str | None) -> Banks:
    """The banks of --db (this command's, else the `cordon` group's), else the default."""
    if database_url is None:
        context = click.get_current_context(silent=True)
        root = context.find_root() if context is not None else None
        obj = root.obj if root is not None and isinstance(root.obj, dict) else {}
        database_url = obj.get("database_url")
    return Banks(Store(database_url))


def _when(value: Any) -> str:
    return "-" if value is None else value.strftime("%Y-%m-%d %H:%M:%S UTC")


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {n}" for name, n in counts.items()) or "-"


@click.group("bank")
def bank_group() -> None:
    """Banks of signals: create, add files, import and export hash lists, withdraw entries."""


@bank_group.command("create")
@click.argument("name")
@click.option("--description", default=None, help="What the bank holds.")
@DB_OPTION
@FORMAT_OPTION
def create_command(
    name: str, description: str | None, database_url: str | None, output_format: str
) -> None:
    """Create an empty bank NAME."""
    bank = open_banks(database_url).create(name, description)
    if output_format == "json":
        print_json(bank.to_json())
    else:
        click.echo(f"created bank {bank.name}")


@bank_group.command("list")
@DB_OPTION
@FORMAT_OPTION
def list_command(database_url: str | None, output_format: str) -> None:
    """List the banks with their entry counts."""
    banks = open_banks(database_url)
    summaries = [banks.summary(bank.name) for bank in banks.list()]
    if output_format == "json":
        for summary in summaries:
            print_json(summary.to_json())
        return
    if not summaries:
        click.echo("no banks yet (create one with `cordon bank create NAME`)")
        return
    width = max(len("BANK"), *(len(s.bank.name) for s in summaries))
    click.echo(f"{'BANK'.ljust(width)}  {'ENTRIES':>9}  {'WITHDRAWN':>9}  {'UPDATED':<23}  "
               "DESCRIPTION")
    for s in summaries:
        click.echo(f"{s.bank.name.ljust(width)}  {s.live:>9}  {s.withdrawn:>9}  "
                   f"{_when(s.last_change or s.bank.updated_at):<23}  {s.bank.description or ''}")


@bank_group.command("show")
@click.argument("name")
@DB_OPTION
@FORMAT_OPTION
def show_command(name: str, database_url: str | None, output_format: str) -> None:
    """Show a bank: entries by signal type and label, withdrawals, timestamps."""
    s = open_banks(database_url).summary(name)
    if output_format == "json":
        print_json(s.to_json())
        return
    rows = [
        ("bank", s.bank.name),
        ("description", s.bank.description or "-"),
        ("entries", f"{s.live} live, {s.withdrawn} withdrawn"),
        ("signals", _counts(s.signals)),
        ("labels", _counts(s.labels)),
        ("created", _when(s.bank.created_at)),
        ("last change", _when(s.last_change or s.bank.updated_at)),
    ]
    for key, value in rows:
        click.echo(f"{key:<12} {value}")


def _report(summary: ImportSummary, output_format: str, what: str) -> None:
    for problem in summary.problems[:SHOWN_PROBLEMS]:
        kind = "skipped" if problem.skipped else "warning"
        warn(f"{problem.location}: {kind}: {problem.message}")
    hidden = summary.skipped + summary.warnings - min(len(summary.problems), SHOWN_PROBLEMS)
    if hidden > 0:
        warn(f"... and {hidden} more problem(s), counted below")
    if output_format == "json":
        print_json(summary.to_json())
        return
    parts = [f"{summary.created} new", f"{summary.updated} updated",
             f"{summary.unchanged} unchanged"]
    if summary.withdrawn:
        parts.append(f"{summary.withdrawn} withdrawn")
    if summary.still_withdrawn:
        parts.append(f"{summary.still_withdrawn} kept withdrawn")
    parts.append(f"{summary.skipped} skipped")
    if summary.warnings:
        parts.append(f"{summary.warnings} warning(s)")
    click.echo(f"{what} into bank {summary.bank}: {summary.records} record(s): "
               + ", ".join(parts))


@bank_group.command("add")
@click.argument("name")
@click.argument("paths", nargs=-1, required=True)
@click.option("--label", "labels", multiple=True, metavar="LABEL",
              help="Label given to every entry added (repeatable).")
@click.option("--note", default=None, help="A note stored with every entry added.")
@click.option(
    "--signal", "signal_names", multiple=True, metavar="NAME[,NAME...]",
    help="Signal types to compute (default: every default signal of the content type). "
    f"Known: {', '.join(s.name for s in all_signal_types())}.",
)
@hashing_options
@DB_OPTION
@FORMAT_OPTION
def add_command(
    name: str, paths: tuple[str, ...], labels: tuple[str, ...], note: str | None,
    signal_names: tuple[str, ...], jobs: int, fps: float, frame_size: str | None,
    database_url: str | None, output_format: str,
) -> None:
    """Hash files or directories and store their signals as entries of bank NAME.

    Adding the same content again gives the same entry (its labels are merged). Only the
    signals are stored, never the files. Exit status: 0 when every file was added, 1 when
    some could not be hashed (the others are still added), 2 on bad usage.
    """
    if "-" in paths:
        raise click.BadParameter("standard input cannot be added; give file paths",
                                 param_hint="PATH")
    try:
        # Without --signal, bank what matching uses (robustness signals included).
        signals: SignalSelection = (
            parse_signal_names(",".join(signal_names)) if signal_names else MatchingSelection()
        )
    except CordonError as exc:
        raise click.BadParameter(str(exc), param_hint="--signal") from None
    banks = open_banks(database_url)
    banks.get(name)  # an unknown bank fails before any hashing
    options = HashOptions(fps=fps, frame_size=parse_frame_size(frame_size))
    items = list(iter_inputs(paths, None))
    records: list[RawRecord] = []
    failures = 0
    with progress_bar(len(items), "hashing", enabled=len(items) > 1) as bar:
        for result in hash_items(items, signals, options, jobs):
            if result.error is not None:
                failures += 1
                warn(f"{result.path}: error: {result.error}")
            else:
                records.append(RawRecord(
                    location=result.path,
                    signals=list(result.signals.items()),
                    labels=list(labels),
                    content_type=result.content_type.value if result.content_type else None,
                    source=result.path,
                    note=note,
                ))
            if bar is not None:
                bar[0].advance(bar[1])
    summary = banks.import_records(name, records)
    _report(summary, output_format, f"added {len(records)} file(s)")
    if failures or summary.skipped:
        raise SystemExit(1)


@bank_group.command("import")
@click.argument("name")
@click.argument("file", metavar="FILE")
@click.option("--format", "input_format", type=click.Choice([AUTO, *FORMATS]), default=AUTO,
              show_default=True, help="The hash-list format; auto sniffs it from the content.")
@click.option("--batch-size", type=click.IntRange(1, 1_000_000), default=10_000,
              show_default=True, help="Records stored per transaction.")
@DB_OPTION
@click.option("--output-format", "output_format", type=click.Choice(["text", "json"]),
              default="text", show_default=True,
              help="The summary for people (text) or programs (json).")
def import_command(
    name: str, file: str, input_format: str, batch_size: int, database_url: str | None,
    output_format: str,
) -> None:
    """Import a hash list FILE (- for standard input) into bank NAME.

    Formats: jsonl (Cordon's JSON lines), tx-csv (`tx dataset -P --csv`), lines
    (`signal_type hash`, as `tx hash` prints), tat-json (Tech Against Terrorism hash list).
    Malformed records are reported with their line numbers and skipped. An interrupted
    import is finished by running it again: stored records are recognized, not duplicated.
    Exit status: 0 when every record was stored, 1 when some were skipped, 2 on bad usage.
    """
    banks = open_banks(database_url)
    total = None
    with contextlib.suppress(OSError):
        if file != "-" and Path(file).is_file():
            total = os.path.getsize(file)
    with progress_bar(total, "importing", enabled=total is not None and total > 1 << 20) as bar:
        def on_batch(_summary: ImportSummary, position: int) -> None:
            if bar is not None:
                bar[0].update(bar[1], completed=position)

        summary = banks.import_file(name, file, input_format, batch_size=batch_size,
                                    on_batch=on_batch)
    _report(summary, output_format, f"imported {file} ({summary.format})")
    if summary.skipped:
        raise SystemExit(1)


@contextlib.contextmanager
def _output(path: str | None) -> Iterator[TextIO]:
    if path is None or path == "-":
        yield sys.stdout
        sys.stdout.flush()
        return
    target = Path(path)
    partial = target.with_name(f".{target.name}.partial")
    try:
        handle = open(partial, "w", encoding="utf-8", newline="")  # noqa: SIM115
    except OSError as exc:
        raise CordonError(f"cannot write {path}: {(exc.strerror or str(exc)).lower()}") from None
    try:
        with handle:
            yield handle
        # Readers of FILE never see a half-written export.
        os.replace(partial, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(partial)


@bank_group.command("export")
@click.argument("name")
@click.option("--format", "export_format", type=click.Choice(FORMATS), required=True,
              help="The hash-list format to write.")
@click.option("--output", "-o", metavar="FILE", help="Write there instead of standard output.")
@click.option("--include-withdrawn", is_flag=True,
              help="Also write withdrawn entries (jsonl: withdrawn_at, tat-json: deleted).")
@DB_OPTION
def export_command(
    name: str, export_format: str, output: str | None, include_withdrawn: bool,
    database_url: str | None,
) -> None:
    """Export bank NAME as a hash list (live entries only unless --include-withdrawn)."""
    banks = open_banks(database_url)
    banks.get(name)
    with _output(output) as out:
        summary = banks.export(name, export_format, out, include_withdrawn)
    if summary.left_out:
        warn(f"{summary.left_out} signal(s) have no {export_format} form and were left out")
    if output not in (None, "-"):
        warn(f"exported {summary.written} item(s) of bank {name} to {output}")


@bank_group.command("remove")
@click.argument("name")
@click.argument("entry_id", type=click.IntRange(1))
@DB_OPTION
@FORMAT_OPTION
def remove_command(name: str, entry_id: int, database_url: str | None, output_format: str) -> None:
    """Withdraw entry ENTRY_ID of bank NAME. The entry is kept as a tombstone so that
    mirrors of the bank learn of the withdrawal."""
    entry, was_live = open_banks(database_url).withdraw(name, entry_id)
    if output_format == "json":
        print_json({**entry.to_json(), "changed": was_live})
    elif was_live:
        click.echo(f"withdrew entry {entry_id} from bank {name}")
    else:
        click.echo(f"entry {entry_id} of bank {name} was already withdrawn")
