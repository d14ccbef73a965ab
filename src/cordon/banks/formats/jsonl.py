"""Cordon's own JSON lines: one entry per line with all its signals, labels and metadata.

    {"signals": {"pdq": "f8f8...", "md5": "..."}, "labels": ["x"], "content_type": "image",
     "source": "upload-123.jpg", "note": "..."}

A signal value is the compact string, the JSON form (`{"hash": ..., "quality": ...}`) or a
list of either. Exports also carry `id` and timestamps, which imports ignore.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any, BinaryIO, TextIO

from cordon.banks.formats.common import ByteCounter, iso, text_lines
from cordon.banks.records import Problem, RawRecord
from cordon.store.repository import EntryRow

NAME = "jsonl"
_KNOWN = frozenset(
    {"id", "signals", "labels", "content_type", "source", "note", "created_at", "updated_at",
     "withdrawn_at"}
)


def read(stream: BinaryIO, counter: ByteCounter) -> Iterator[RawRecord | Problem]:
    for number, text in text_lines(stream, counter):
        where = f"line {number}"
        if text is None:
            yield Problem(where, "not UTF-8 text")
            continue
        if not text.strip():
            continue
        try:
            obj = json.loads(text)
        except ValueError as exc:
            yield Problem(where, f"not valid JSON ({getattr(exc, 'msg', exc)})")
            continue
        if not isinstance(obj, dict):
            yield Problem(where, "expected a JSON object")
            continue
        yield from _record(where, obj)


def _record(where: str, obj: dict[str, Any]) -> Iterator[RawRecord | Problem]:
    signals_obj = obj.get("signals")
    if not isinstance(signals_obj, dict) or not signals_obj:
        yield Problem(where, 'expected "signals": {"TYPE": "HASH", ...} with at least one signal')
        return
    signals: list[tuple[str, Any]] = []
    for name, value in signals_obj.items():
        values = value if isinstance(value, list) else [value]
        signals.extend((name, v) for v in values)
    labels = obj.get("labels", [])
    if not isinstance(labels, list):
        yield Problem(where, '"labels" must be a list of strings')
        return
    unknown = sorted(set(obj) - _KNOWN)
    warnings = [f"unknown field{'s' if len(unknown) > 1 else ''} "
                f"{', '.join(repr(k) for k in unknown)} ignored"] if unknown else []
    yield RawRecord(
        location=where,
        signals=signals,
        labels=labels,
        content_type=obj.get("content_type"),
        source=obj.get("source"),
        note=obj.get("note"),
        withdrawn=obj.get("withdrawn_at") is not None,
        warnings=warnings,
    )


def write(
    entries: Iterable[EntryRow], out: TextIO, bank: str, with_withdrawn: bool
) -> tuple[int, int]:
    """Write the entries; returns (entries written, signals left out)."""
    count = skipped = 0
    for entry in entries:
        signals: dict[str, Any] = {}
        for s in entry.signals:
            value: Any = {"hash": s.value, **s.detail} if s.detail else s.value
            if s.signal_type in signals:
                previous = signals[s.signal_type]
                signals[s.signal_type] = [*(previous if isinstance(previous, list)
                                            else [previous]), value]
            else:
                signals[s.signal_type] = value
        obj: dict[str, Any] = {
            "id": entry.id, "signals": signals, "labels": entry.labels,
            "content_type": entry.content_type, "source": entry.source, "note": entry.note,
            "created_at": iso(entry.created_at), "updated_at": iso(entry.updated_at),
        }
        if with_withdrawn:
            obj["withdrawn_at"] = iso(entry.withdrawn_at)
        out.write(json.dumps(obj, ensure_ascii=False) + "\n")
        count += 1
    return count, skipped
