"""`cordon hash`: fingerprint files, directories or standard input."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import click

from cordon.cli.output import FORMAT_OPTION, hashing_options, print_json, progress_bar, track, warn
from cordon.errors import CordonError
from cordon.hashing import HashResult, SignalSelection, hash_file
from cordon.inputs import STDIN, InputItem, iter_inputs, spool_stdin
from cordon.signals import (
    HashOptions,
    SignalType,
    all_signal_types,
    get_signal_type,
    parse_signal_names,
)


def parse_frame_size(text: str | None) -> tuple[int, int] | None:
    if not text:
        return None
    match = re.fullmatch(r"\s*(\d{1,5})\s*[xX]\s*(\d{1,5})\s*", text)
    if not match or int(match[1]) < 1 or int(match[2]) < 1:
        raise click.BadParameter("expected WIDTHxHEIGHT, e.g. 128x128", param_hint="--frame-size")
    return int(match[1]), int(match[2])


def _signals_option(values: Sequence[str]) -> list[SignalType] | None:
    if not values:
        return None
    try:
        return parse_signal_names(",".join(values))
    except CordonError as exc:
        raise click.BadParameter(str(exc), param_hint="--signal") from None


def _hash_job(job: tuple[str, str, SignalSelection, HashOptions]) -> HashResult:
    path, display, signals, options = job
    return hash_file(Path(path), signals, options, display=display)


def hash_items(
    items: Sequence[InputItem],
    signals: SignalSelection,
    options: HashOptions,
    jobs: int,
) -> Iterator[HashResult]:
    """Hash every item in order; errors of the walk come back as failed results."""
    work = [(str(i.path), i.display, signals, options) for i in items if i.path is not None]
    if jobs <= 1 or len(work) <= 1:
        results: Iterator[HashResult] = map(_hash_job, work)
    else:
        executor = ProcessPoolExecutor(max_workers=jobs)
        results = executor.map(_hash_job, work, chunksize=1)
    try:
        for item in items:
            if item.path is None:
                yield HashResult(path=item.display, error=item.error)
            else:
                yield next(results)
    finally:
        if jobs > 1 and len(work) > 1:
            executor.shutdown(wait=False, cancel_futures=True)


def write_reference_files(result: HashResult, output_dir: Path) -> None:
    stem = Path(result.path).stem if result.path != STDIN else "stdin"
    for name, value in result.signals.items():
        reference = get_signal_type(name).reference_file(value)
        if reference is not None:
            suffix, data = reference
            (output_dir / f"{stem}{suffix}").write_bytes(data)


def print_text(result: HashResult) -> None:
    if result.error is not None:
        warn(f"{result.path}: error: {result.error}")
        return
    width = max((len(n) for n in result.signals), default=0)
    for name, value in result.signals.items():
        summary = get_signal_type(name).summary(value)
        click.echo(f"{result.path}  {result.content_type}  {name.ljust(width)}  {summary}")


@click.command("hash")
@click.argument("paths", nargs=-1, required=True)
@click.option(
    "--signal",
    "signal_names",
    multiple=True,
    metavar="NAME[,NAME...]",
    help="Signal types to compute (default: every default signal of the content type). "
    f"Known: {', '.join(s.name for s in all_signal_types())}.",
)
@FORMAT_OPTION
@hashing_options
@click.option(
    "--output-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Also write reference-format files (NAME.tmk, NAME.vpdq.txt) there.",
)
def hash_command(
    paths: tuple[str, ...],
    signal_names: tuple[str, ...],
    output_format: str,
    jobs: int,
    fps: float,
    frame_size: str | None,
    output_dir: Path | None,
) -> None:
    """Fingerprint files, directories (recursively) or - for standard input.

    The content type is detected from the bytes. Exit status: 0 when every file was hashed,
    1 when some failed (the others are still printed), 2 on bad usage.
    """
    signals = _signals_option(signal_names)
    options = HashOptions(fps=fps, frame_size=parse_frame_size(frame_size))
    if output_dir is not None:
        output_dir.mkdir(parents=True, exist_ok=True)
    stdin_path = spool_stdin() if STDIN in paths else None
    failures = 0
    try:
        items = list(iter_inputs(paths, stdin_path))
        with progress_bar(len(items), "hashing", enabled=len(items) > 1) as bar:
            for result in track(hash_items(items, signals, options, jobs), bar):
                if result.error is not None:
                    failures += 1
                elif output_dir is not None:
                    write_reference_files(result, output_dir)
                if output_format == "json":
                    print_json(result.to_json())
                else:
                    print_text(result)
    finally:
        if stdin_path is not None:
            os.unlink(stdin_path)
    if failures:
        raise SystemExit(1)
