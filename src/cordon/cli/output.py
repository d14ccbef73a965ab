"""Shared output helpers: progress bars on stderr, JSON lines on stdout, one-line errors."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

T = TypeVar("T")

FORMAT_OPTION = click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text for people, json (one object per line) for programs.",
)


def hashing_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--jobs, --fps and --frame-size: how every command that hashes files samples them."""
    for option in reversed(
        [
            click.option(
                "--jobs",
                "-j",
                type=click.IntRange(1, 256),
                default=1,
                show_default=True,
                help="Files hashed in parallel (processes).",
            ),
            click.option(
                "--fps",
                type=click.FloatRange(0, 240),
                default=1.0,
                show_default=True,
                help="Video frames per second hashed by frame-level signals (vpdq); "
                "0 = every frame.",
            ),
            click.option(
                "--frame-size",
                metavar="WxH",
                help="Downscale video frames to WxH before frame-level hashing.",
            ),
        ]
    ):
        command = option(command)
    return command


def stderr_console() -> Console:
    return Console(stderr=True, highlight=False)


def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, separators=(", ", ": ")) + "\n")
    sys.stdout.flush()


def warn(message: str) -> None:
    click.echo(f"cordon: {message}", err=True)


@contextmanager
def progress_bar(total: int | None, label: str, enabled: bool) -> Iterator[Any]:
    """A progress bar on stderr when `enabled` and stderr is a terminal; else a no-op."""
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=stderr_console(),
        transient=False,
    )
    with progress:
        yield (progress, progress.add_task(label, total=total))


def track(items: Iterable[T], bar: Any) -> Iterator[T]:
    for item in items:
        yield item
        if bar is not None:
            progress, task = bar
            progress.advance(task)
