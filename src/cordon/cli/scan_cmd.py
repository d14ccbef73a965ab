"""`cordon scan`: retro-scan a whole corpus against the local banks, resumable, on one
machine or on Ray."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from cordon.cli.bank_cmd import DB_OPTION, open_banks
from cordon.cli.hash_cmd import parse_frame_size
from cordon.cli.match_cmd import parse_thresholds
from cordon.cli.output import FORMAT_OPTION, hashing_options, print_json, progress_bar, track, warn
from cordon.errors import CordonError
from cordon.inputs import InputItem, iter_inputs
from cordon.scan import Journal, ScanSpec, ScanWorker
from cordon.scan.engines import scan_local, scan_ray
from cordon.signals import HashOptions


def _listed_paths(list_file: str) -> list[str]:
    try:
        text = Path(list_file).read_text(encoding="utf-8")
    except OSError as exc:
        reason = (exc.strerror or str(exc)).lower()
        raise CordonError(f"cannot read {list_file}: {reason}") from None
    except UnicodeDecodeError:
        raise CordonError(f"{list_file} is not a UTF-8 list of paths") from None
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def _print_text(record: dict[str, Any]) -> None:
    if record["error"] is not None:
        warn(f"{record['path']}: error: {record['error']}")
        return
    seen: set[tuple[str, int]] = set()
    for m in record["matches"]:
        if (m["bank"], m["entry"]) in seen:
            continue  # one line per entry: the best signal comes first
        seen.add((m["bank"], m["entry"]))
        labels = ",".join(m["labels"]) or "-"
        click.echo(f"{record['path']}  MATCH  {m['bank']}/{m['entry']}  {m['signal_type']}"
                   f" distance={m['distance']:g}  labels={labels}")


@click.command("scan")
@click.argument("paths", nargs=-1)
@click.option("--list", "list_file", metavar="FILE",
              help="Also scan the paths listed in FILE (one per line).")
@click.option("--bank", "bank_names", multiple=True, metavar="NAME",
              help="Match against this bank (repeatable; default: every bank).")
@click.option("--threshold", "thresholds", multiple=True, metavar="SIGNAL=VALUE",
              help="Override a signal type's match threshold, e.g. pdq=24 (repeatable).")
@click.option("--engine", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="local: processes of this machine; ray: Ray actors (pip install 'cordon[ray]').")
@click.option("--ray-address", metavar="ADDR",
              help="Join this Ray cluster (e.g. ray://head:10001 or auto); default: start a "
                   "local instance with --jobs workers.")
@click.option("--output", "-o", "output", type=click.Path(dir_okay=False, path_type=Path),
              help="Append one JSON line per file here; files already in it are skipped "
                   "(resume). Default: results on standard output, no resume.")
@FORMAT_OPTION
@hashing_options
@DB_OPTION
def scan_command(paths: tuple[str, ...], list_file: str | None, bank_names: tuple[str, ...],
                 thresholds: tuple[str, ...], engine: str, ray_address: str | None,
                 output: Path | None, output_format: str, jobs: int, fps: float,
                 frame_size: str | None, database_url: str | None) -> None:
    """Hash and match every file under PATH... against the banks (a retro scan).

    Each file gives one JSON line (path, content type, signals in short, matches, error) in
    --output, written as it finishes; run the same command again after an interruption and
    it carries on where it stopped. The summary (files, matched, failed, files/s) comes last.
    Exit status: 0 when every file was checked, 1 when some could not be, 2 on bad usage.
    """
    targets = list(paths) + (_listed_paths(list_file) if list_file else [])
    if not targets:
        raise click.UsageError("give PATH... or --list FILE")
    if ray_address and engine != "ray":
        raise click.UsageError("--ray-address needs --engine ray")
    limits = parse_thresholds(thresholds)
    options = HashOptions(fps=fps, frame_size=parse_frame_size(frame_size))
    banks = open_banks(database_url)
    for name in bank_names:
        banks.get(name)  # unknown banks fail before any work
    url = banks.store.url.render_as_string(hide_password=False)
    banks.store.close()
    spec = ScanSpec(url, bank_names, tuple(sorted(limits.items())), options)
    journal = Journal(output).open() if output is not None else None
    try:
        done = journal.done if journal is not None else set()
        items = [i for i in iter_inputs(targets, None) if i.display not in done]
        summary = _run(spec, items, engine, ray_address, jobs, journal, output_format)
    finally:
        if journal is not None:
            journal.close()
    summary["skipped"] = len(done)
    if output_format == "json":
        print_json({"summary": summary})
    else:
        click.echo(f"scanned {summary['files']} files: {summary['matched']} matched, "
                   f"{summary['failed']} failed, {summary['files_per_second']:.1f} files/s"
                   + (f" ({len(done)} already in {output})" if done else ""))
    if summary["failed"]:
        raise SystemExit(1)


def _run(spec: ScanSpec, items: list[InputItem], engine: str, ray_address: str | None,
         jobs: int, journal: Journal | None, output_format: str) -> dict[str, Any]:
    show = output_format == "text"
    files = matched = failed = 0
    start = time.perf_counter()
    worker = ScanWorker(spec, show=show) if engine == "local" else None
    try:
        records: Iterator[dict[str, Any]]
        if worker is not None:
            records = scan_local(worker, items, jobs)
        else:
            records = scan_ray(spec, items, jobs, ray_address)
        with progress_bar(len(items), "scanning", enabled=len(items) > 1) as bar:
            for record in track(records, bar):
                files += 1
                matched += bool(record["matches"])
                failed += record["error"] is not None
                if journal is not None:
                    journal.write(record)
                    if output_format == "text" and (record["matches"] or record["error"]):
                        _print_text(record)
                elif output_format == "json":
                    click.echo(json.dumps(record, ensure_ascii=False))
                else:
                    _print_text(record)
    finally:
        if worker is not None:
            worker.close()
    elapsed = time.perf_counter() - start
    return {"files": files, "matched": matched, "failed": failed,
            "seconds": round(elapsed, 3),
            "files_per_second": files / elapsed if elapsed > 0 else 0.0}
