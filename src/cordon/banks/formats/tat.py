"""Tech Against Terrorism hash-list JSON, the shape of one API page:

    {"count": 2, "next": null, "previous": null, "checkpoint": "...",
     "results": [{"id": 1, "hash_digest": "...", "algorithm": "PDQ", "ideology": "...",
                  "file_type": "...", "deleted": false, "updated_on": "...",
                  "created_on": "..."}]}

A list of such pages, or a bare list of results, is read too. `deleted: true` withdraws the
entry; `ideology` and `file_type` become `ideology:X` and `file_type:X` labels; `id` becomes
the entry's source.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any, BinaryIO, TextIO

from cordon.banks.formats.common import ByteCounter, iso
from cordon.banks.records import Problem, RawRecord
from cordon.errors import CordonError
from cordon.store.repository import EntryRow

NAME = "tat-json"
_ALGORITHMS = {"PDQ": "pdq", "MD5": "md5"}
_EXPORT_ALGORITHMS = {v: k for k, v in _ALGORITHMS.items()}
_KNOWN = frozenset({"id", "hash_digest", "algorithm", "ideology", "file_type", "deleted",
                    "updated_on", "created_on"})
_LABEL_FIELDS = ("ideology", "file_type")


def _results(document: Any) -> list[Any]:
    if isinstance(document, dict) and isinstance(document.get("results"), list):
        return document["results"]
    if isinstance(document, list):
        results: list[Any] = []
        for item in document:
            if isinstance(item, dict) and isinstance(item.get("results"), list):
                results.extend(item["results"])
            else:
                results.append(item)
        return results
    raise CordonError('not a hash-list page: expected {"results": [...]} or a list')


def read(stream: BinaryIO, counter: ByteCounter) -> Iterator[RawRecord | Problem]:
    data = stream.read()
    counter.position += len(data)
    try:
        document = json.loads(data)
    except UnicodeDecodeError:
        raise CordonError("the hash list is not UTF-8 text") from None
    except ValueError as exc:
        raise CordonError(f"the hash list is not valid JSON ({exc})") from None
    for number, item in enumerate(_results(document), start=1):
        where = f"result {number}"
        if not isinstance(item, dict):
            yield Problem(where, "expected a JSON object")
            continue
        algorithm = item.get("algorithm")
        name = _ALGORITHMS.get(str(algorithm).upper()) if isinstance(algorithm, str) else None
        if name is None:
            yield Problem(where, f"unknown algorithm {algorithm!r} (known: PDQ, MD5)")
            continue
        deleted = item.get("deleted", False)
        if not isinstance(deleted, bool):
            yield Problem(where, '"deleted" must be true or false')
            continue
        labels = [f"{key}:{item[key]}" for key in _LABEL_FIELDS
                  if isinstance(item.get(key), str) and item[key].strip()]
        unknown = sorted(set(item) - _KNOWN)
        warnings = [f"unknown field(s) {', '.join(repr(k) for k in unknown)} ignored"] \
            if unknown else []
        source = item.get("id")
        yield RawRecord(
            location=where,
            signals=[(name, item.get("hash_digest"))],
            labels=labels,
            source=None if source is None else str(source),
            withdrawn=deleted,
            warnings=warnings,
        )


def write(
    entries: Iterable[EntryRow], out: TextIO, bank: str, with_withdrawn: bool
) -> tuple[int, int]:
    """Write one page holding every entry; returns (entries written, signals left out)."""
    out.write('{"next": null, "previous": null, "results": [')
    count = skipped = 0
    checkpoint = 0
    for entry in entries:
        checkpoint = max(checkpoint, entry.change_seq)
        for s in entry.signals:
            algorithm = _EXPORT_ALGORITHMS.get(s.signal_type)
            if algorithm is None:
                skipped += 1
                continue
            item: dict[str, Any] = {
                "id": entry.id, "hash_digest": s.value, "algorithm": algorithm,
                "deleted": entry.withdrawn_at is not None,
                "updated_on": iso(entry.updated_at), "created_on": iso(entry.created_at),
            }
            for key in _LABEL_FIELDS:
                item[key] = next((lb.split(":", 1)[1] for lb in entry.labels
                                  if lb.startswith(key + ":")), None)
            out.write(("" if count == 0 else ", ") + json.dumps(item, ensure_ascii=False))
            count += 1
    out.write(f'], "count": {count}, "checkpoint": "{checkpoint}"}}\n')
    return count, skipped
