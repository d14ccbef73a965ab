"""`cordon match`: match files or hash lists against the banks, with no server."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import click

from cordon.banks import Banks
from cordon.banks.service import Entry
from cordon.cli.bank_cmd import DB_OPTION, open_banks
from cordon.cli.hash_cmd import hash_items, parse_frame_size
from cordon.cli.output import FORMAT_OPTION, hashing_options, print_json, progress_bar, track, warn
from cordon.errors import CordonError, SignalFormatError
from cordon.hashing import HashResult, MatchingSelection
from cordon.inputs import STDIN, iter_inputs, spool_stdin
from cordon.matching import Matcher, SignalMatch
from cordon.signals import HashOptions, get_signal_type


@dataclass
class MatchResult:
    path: str
    signals: dict[str, Any] = field(default_factory=dict)
    matches: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "signals": {n: get_signal_type(n).to_json(v) for n, v in self.signals.items()},
            "matches": self.matches,
            "error": self.error,
        }


def parse_thresholds(values: Iterable[str]) -> dict[str, float]:
    thresholds: dict[str, float] = {}
    for text in values:
        name, sep, number = text.partition("=")
        try:
            signal = get_signal_type(name)
            if not sep:
                raise ValueError
            thresholds[signal.name] = float(number)
        except CordonError as exc:
            raise click.BadParameter(str(exc), param_hint="--threshold") from None
        except ValueError:
            raise click.BadParameter(
                f"expected SIGNAL=VALUE, e.g. pdq=24, got {text!r}", param_hint="--threshold"
            ) from None
    return thresholds


def load_matcher(
    banks: Banks, bank_names: Sequence[str] | None, thresholds: dict[str, float], show: bool
) -> Matcher:
    """Index every live signal of the chosen banks (all banks when none is named)."""
    names = list(bank_names) if bank_names else [b.name for b in banks.list()]
    counts: dict[str, int] = {}
    for name in names:
        for signal, count in banks.summary(name).signals.items():
            counts[signal] = counts.get(signal, 0) + count
    matcher = Matcher(thresholds)
    with progress_bar(sum(counts.values()), "loading banks", enabled=show) as bar:
        for signal, _ in sorted(counts.items()):
            matcher.add_many(signal, track(banks.live_signals(signal, names), bar))
    return matcher


def _describe(match: SignalMatch, entry: Entry) -> dict[str, Any]:
    detail = dict(match.detail)
    described: dict[str, Any] = {
        "bank": entry.bank,
        "entry": entry.id,
        "signal_type": match.signal_type,
        "distance": match.distance,
        "labels": entry.labels,
        "source": entry.source,
        "segments": detail.pop("segments", []),
    }
    if detail:
        described["detail"] = detail
    return described


def _hash_lines(path: str) -> Iterator[MatchResult]:
    """Inputs from a `signal_type hash` list (what `tx hash` and `cordon bank export
    --format lines` print); each line is one input named FILE:LINE."""
    try:
        handle = click.open_file(path, "r", encoding="utf-8", errors="strict")
    except OSError as exc:
        raise CordonError(f"cannot read {path}: {(exc.strerror or str(exc)).lower()}") from None
    with handle:
        try:
            for number, raw in enumerate(handle, 1):
                line = raw.strip()
                if not line or line.startswith("#"):
                    continue
                where = f"{path}:{number}"
                name, _, text = line.partition(" ")
                try:
                    signal = get_signal_type(name)
                    value = signal.parse(text.strip())
                except (CordonError, SignalFormatError) as exc:
                    yield MatchResult(where, error=str(exc))
                    continue
                yield MatchResult(where, signals={signal.name: value})
        except UnicodeDecodeError:
            raise CordonError(f"{path} is not a UTF-8 text file of hashes") from None


def _from_hash(result: HashResult) -> MatchResult:
    return MatchResult(result.path, dict(result.signals), error=result.error)


def _emit(result: MatchResult, output_format: str) -> None:
    if output_format == "json":
        print_json(result.to_json())
        return
    if result.error is not None:
        warn(f"{result.path}: error: {result.error}")
        return
    if not result.matches:
        click.echo(f"{result.path}  no match")
        return
    # One line per entry for people: the best match, and every signal type that matched.
    grouped: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for m in result.matches:
        grouped.setdefault((m["bank"], m["entry"]), []).append(m)
    for (bank, entry), found in grouped.items():
        best = found[0]
        kinds = ",".join(dict.fromkeys(m["signal_type"] for m in found))
        labels = ",".join(best["labels"]) or "-"
        where = ""
        segments = next((m["segments"] for m in found if m["segments"]), [])
        if segments:
            s = segments[0]
            where = (
                f"  query {s['query_start']:.1f}-{s['query_end']:.1f}s"
                f" = ref {s['ref_start']:.1f}-{s['ref_end']:.1f}s"
            )
        click.echo(
            f"{result.path}  MATCH  {bank}/{entry}  {best['signal_type']}"
            f" distance={best['distance']:g}  via={kinds}  labels={labels}"
            f"  source={best['source'] or '-'}{where}"
        )


@click.command("match")
@click.argument("paths", nargs=-1)
@click.option(
    "--bank",
    "bank_names",
    multiple=True,
    metavar="NAME",
    help="Match against this bank (repeatable; default: every bank).",
)
@click.option(
    "--hashes",
    "hashes_file",
    metavar="FILE",
    help="Match the hashes listed in FILE (lines 'signal_type hash', - for stdin) "
    "instead of files.",
)
@click.option(
    "--threshold",
    "thresholds",
    multiple=True,
    metavar="SIGNAL=VALUE",
    help="Override a signal type's match threshold, e.g. pdq=24 (repeatable).",
)
@FORMAT_OPTION
@hashing_options
@DB_OPTION
def match_command(
    paths: tuple[str, ...],
    bank_names: tuple[str, ...],
    hashes_file: str | None,
    thresholds: tuple[str, ...],
    output_format: str,
    jobs: int,
    fps: float,
    frame_size: str | None,
    database_url: str | None,
) -> None:
    """Match files, directories or - (standard input) against the banks.

    Prints every match of each input, best first, with the bank, entry, signal type,
    distance, labels and source; video matches carry the aligned time segments. Exit
    status: 0 when every input was checked, 1 when some could not be, 2 on bad usage.
    """
    if bool(paths) == bool(hashes_file):
        raise click.UsageError("give either PATH... or --hashes FILE")
    limits = parse_thresholds(thresholds)
    options = HashOptions(fps=fps, frame_size=parse_frame_size(frame_size))
    banks = open_banks(database_url)
    for name in bank_names:
        banks.get(name)  # unknown banks fail before any work
    matcher = load_matcher(banks, bank_names, limits, show=output_format == "text")
    indexed = frozenset(matcher.sizes())
    stdin_path = spool_stdin() if STDIN in paths else None
    failures = 0
    try:
        if hashes_file is not None:
            inputs: Iterable[MatchResult] = _hash_lines(hashes_file)
            total = None
        else:
            items = list(iter_inputs(paths, stdin_path))
            total = len(items)
            hashed = hash_items(items, MatchingSelection(indexed), options, jobs)
            inputs = map(_from_hash, hashed)
        with progress_bar(total, "matching", enabled=bool(total and total > 1)) as bar:
            for result in track(inputs, bar):
                if result.error is None:
                    found = matcher.match(result.signals)
                    entries = banks.entries_by_id({m.entry_id for m in found}) if found else {}
                    result.matches = [
                        _describe(m, entries[m.entry_id]) for m in found if m.entry_id in entries
                    ]
                else:
                    failures += 1
                _emit(result, output_format)
    finally:
        if stdin_path is not None:
            os.unlink(stdin_path)
    if failures:
        raise SystemExit(1)
