"""Reading text records from a byte stream while counting the bytes consumed (progress)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

_BOM = "\ufeff"


class ByteCounter:
    def __init__(self) -> None:
        self.position = 0


def text_lines(stream: BinaryIO, counter: ByteCounter) -> Iterator[tuple[int, str | None]]:
    """(line number, text) pairs; text is None when the line is not UTF-8."""
    for number, raw in enumerate(stream, start=1):
        counter.position += len(raw)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            yield number, None
            continue
        if number == 1 and text.startswith(_BOM):
            text = text[1:]
        yield number, text.rstrip("\r\n")


def iso(value: object) -> str | None:
    return None if value is None else value.isoformat()  # type: ignore[attr-defined]
