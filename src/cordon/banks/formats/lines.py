"""Plain `signal_type hash` lines, as `tx hash` prints them. Blank lines and # comments
are skipped."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import BinaryIO, TextIO

from cordon.banks.formats.common import ByteCounter, text_lines
from cordon.banks.records import Problem, RawRecord
from cordon.store.repository import EntryRow

NAME = "lines"


def read(stream: BinaryIO, counter: ByteCounter) -> Iterator[RawRecord | Problem]:
    for number, text in text_lines(stream, counter):
        where = f"line {number}"
        if text is None:
            yield Problem(where, "not UTF-8 text")
            continue
        stripped = text.strip()
        if not stripped or stripped.startswith("#"):
            continue
        parts = stripped.split(None, 1)
        if len(parts) != 2:
            yield Problem(where, "expected 'SIGNAL_TYPE HASH'")
            continue
        yield RawRecord(location=where, signals=[(parts[0], parts[1])])


def write(
    entries: Iterable[EntryRow], out: TextIO, bank: str, with_withdrawn: bool
) -> tuple[int, int]:
    """Write the entries; returns (entries written, signals left out)."""
    count = skipped = 0
    for entry in entries:
        for s in entry.signals:
            if "\n" in s.value:  # a multi-line form cannot be one line
                skipped += 1
                continue
            out.write(f"{s.signal_type} {s.value}\n")
        count += 1
    return count, skipped
