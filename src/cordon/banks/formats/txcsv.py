"""python-threatexchange's `tx dataset -P --csv` files: columns
`collab,signal_type,signal_str,category,tags` (found by header name, in any order).

The collaboration and the opinion category become `collab:NAME` and `category:NAME` labels;
the space-separated tags become labels as they are.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from typing import BinaryIO, TextIO

from cordon.banks.formats.common import ByteCounter, text_lines
from cordon.banks.records import Problem, RawRecord
from cordon.store.repository import EntryRow

NAME = "tx-csv"
COLUMNS = ("signal_type", "signal_str", "collab", "category", "tags")
_COLLAB = "collab:"
_CATEGORY = "category:"
# python-threatexchange names for the signal types Cordon calls differently, with the
# content type their name implies.
_ALIASES = {
    "video_md5": ("md5", "video"),
    "photo_md5": ("md5", "image"),
    "video_tmk_pdqf": ("tmk", "video"),
}
_EXPORT_NAMES = {"md5": "video_md5", "tmk": "video_tmk_pdqf"}


def _decoded(stream: BinaryIO, counter: ByteCounter, bad: list[int]) -> Iterator[str]:
    for number, text in text_lines(stream, counter):
        if text is None:
            bad.append(number)
            yield ""
        else:
            yield text


def read(stream: BinaryIO, counter: ByteCounter) -> Iterator[RawRecord | Problem]:
    bad: list[int] = []
    reader = csv.DictReader(_decoded(stream, counter, bad))
    try:
        header = reader.fieldnames
    except csv.Error as exc:
        yield Problem("line 1", f"not a CSV header ({exc})")
        return
    missing = [c for c in ("signal_type", "signal_str") if c not in (header or [])]
    if missing:
        yield Problem("line 1", f"the CSV header lacks the column(s) {', '.join(missing)}")
        return
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield Problem(f"line {reader.line_num}", f"malformed CSV ({exc})")
            continue
        where = f"line {reader.line_num}"
        if bad and bad[-1] == reader.line_num:
            yield Problem(where, "not UTF-8 text")
            continue
        if None in row:
            yield Problem(where, "more fields than the header names")
            continue
        if not any((v or "").strip() for v in row.values()):
            continue
        name = (row.get("signal_type") or "").strip().lower()
        content_type = None
        if name in _ALIASES:
            name, content_type = _ALIASES[name]
        labels = (row.get("tags") or "").split()
        if (collab := (row.get("collab") or "").strip()):
            labels.append(_COLLAB + collab)
        if (category := (row.get("category") or "").strip()):
            labels.append(_CATEGORY + category)
        yield RawRecord(
            location=where,
            signals=[(name, row.get("signal_str") or "")],
            labels=labels,
            content_type=content_type,
        )


def write(
    entries: Iterable[EntryRow], out: TextIO, bank: str, with_withdrawn: bool
) -> tuple[int, int]:
    """Write the entries; returns (entries written, signals left out)."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    count = 0
    for entry in entries:
        collab = next((lb[len(_COLLAB):] for lb in entry.labels if lb.startswith(_COLLAB)), bank)
        category = next(
            (lb[len(_CATEGORY):] for lb in entry.labels if lb.startswith(_CATEGORY)), ""
        )
        # tx tags are single words: labels holding spaces cannot round-trip, so join them.
        tags = " ".join(
            lb.replace(" ", "_") for lb in entry.labels
            if not lb.startswith((_COLLAB, _CATEGORY))
        )
        for s in entry.signals:
            name = _EXPORT_NAMES.get(s.signal_type, s.signal_type)
            writer.writerow((name, s.value, collab, category, tags))
        count += 1
    return count, 0
