"""Turning command-line PATH arguments into the files to process.

Directories are walked recursively in a stable order; symlinks are followed, but a directory
is never entered twice (symlink loops), and every path that cannot be read becomes an error
item for that path while the rest of the batch goes on.
"""

from __future__ import annotations

import errno
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

STDIN = "-"


@dataclass(frozen=True)
class InputItem:
    display: str
    path: Path | None = None
    error: str | None = None


def _os_error(exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "symlink loop"
    if exc.errno == errno.EACCES or isinstance(exc, PermissionError):
        return "permission denied"
    if exc.errno == errno.ENOENT:
        return "no such file or directory"
    return (exc.strerror or str(exc)).lower()


def spool_stdin() -> Path:
    """Copy standard input to a temporary file (decoders need to seek)."""
    with tempfile.NamedTemporaryFile(prefix="cordon-stdin-", delete=False) as handle:
        shutil.copyfileobj(sys.stdin.buffer, handle, length=1 << 20)
    return Path(handle.name)


def _walk(root: Path, display: str, seen: set[tuple[int, int]]) -> Iterator[InputItem]:
    try:
        info = root.stat()
    except OSError as exc:
        yield InputItem(display, error=_os_error(exc))
        return
    identity = (info.st_dev, info.st_ino)
    if identity in seen:
        yield InputItem(display, error="symlink loop (directory already visited)")
        return
    seen.add(identity)
    try:
        with os.scandir(root) as listing:
            entries = sorted(listing, key=lambda e: e.name)
    except OSError as exc:
        yield InputItem(display, error=_os_error(exc))
        return
    for entry in entries:
        child = Path(entry.path)
        child_display = os.path.join(display, entry.name)
        try:
            is_dir = entry.is_dir(follow_symlinks=True)
            is_file = not is_dir and entry.is_file(follow_symlinks=True)
        except OSError as exc:
            yield InputItem(child_display, error=_os_error(exc))
            continue
        if is_dir:
            yield from _walk(child, child_display, seen)
        elif is_file:
            yield InputItem(child_display, path=child)
        elif entry.is_symlink():
            try:
                child.stat()
                error = "not a regular file"
            except OSError as exc:
                error = _os_error(exc)
            yield InputItem(child_display, error=error)
        # Sockets, FIFOs and devices inside a tree are skipped silently, as `find -type f` does.


def iter_inputs(args: Sequence[str], stdin_path: Path | None = None) -> Iterator[InputItem]:
    """Expand PATH arguments; `-` stands for standard input spooled to `stdin_path`."""
    seen: set[tuple[int, int]] = set()
    for arg in args:
        if arg == STDIN:
            if stdin_path is None:
                yield InputItem(arg, error="standard input is not available")
            else:
                yield InputItem(arg, path=stdin_path)
            continue
        path = Path(arg)
        try:
            info = path.stat()
        except OSError as exc:
            yield InputItem(arg, error=_os_error(exc))
            continue
        if os.path.isdir(path) and (info.st_mode & 0o170000) == 0o040000:
            yield from _walk(path, arg, seen)
        elif path.is_file():
            yield InputItem(arg, path=path)
        else:
            yield InputItem(arg, error="not a regular file")
