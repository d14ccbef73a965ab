"""Hash-list formats for `cordon bank import` / `export`, and sniffing which one a file is."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from types import ModuleType
from typing import BinaryIO, TextIO

from cordon.banks.formats import jsonl, lines, tat, txcsv
from cordon.banks.formats.common import ByteCounter
from cordon.banks.records import Problem, RawRecord
from cordon.errors import CordonError
from cordon.store.repository import EntryRow

_MODULES: dict[str, ModuleType] = {m.NAME: m for m in (jsonl, txcsv, lines, tat)}
FORMATS = tuple(_MODULES)
AUTO = "auto"

Reader = Callable[[BinaryIO, ByteCounter], Iterator[RawRecord | Problem]]
Writer = Callable[[Iterable[EntryRow], TextIO, str, bool], tuple[int, int]]

__all__ = ["AUTO", "FORMATS", "ByteCounter", "reader", "sniff", "writer"]


def _module(name: str) -> ModuleType:
    try:
        return _MODULES[name]
    except KeyError:
        raise CordonError(f"unknown format {name!r} (known: {', '.join(FORMATS)})") from None


def reader(name: str) -> Reader:
    return _module(name).read  # type: ignore[no-any-return]


def writer(name: str) -> Writer:
    return _module(name).write  # type: ignore[no-any-return]


def sniff(head: bytes) -> str:
    """Guess the format from the first bytes of a file."""
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n")
    if not text:
        raise CordonError("the file is empty: nothing to import")
    first_line = text.split("\n", 1)[0].strip()
    if text.startswith("["):
        return tat.NAME
    if text.startswith("{"):
        try:
            first = json.loads(first_line)
        except ValueError:
            first = None
        if isinstance(first, dict):
            return tat.NAME if "results" in first else jsonl.NAME
        # A document spread over lines: a hash-list page, or JSON lines too long to see whole.
        return tat.NAME if '"results"' in text or '"hash_digest"' in text else jsonl.NAME
    header = [c.strip().lower() for c in first_line.split(",")]
    if "signal_type" in header and "signal_str" in header:
        return txcsv.NAME
    return lines.NAME
