"""Exact-match index for cryptographic digests (md5, sha256): a dict from digest to keys."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cordon.errors import CordonError
from cordon.index.base import IndexMatch, SignalIndex
from cordon.index.snapshot import snapshot_writer

_SNAPSHOT_FORMAT = "cordon-exact-index"
_SNAPSHOT_VERSION = 1
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _check_key(key: Any) -> int:
    if isinstance(key, bool) or not isinstance(key, int):
        raise CordonError(f"an index key is a whole number, got {key!r:.80}")
    if not _INT64_MIN <= key <= _INT64_MAX:
        raise CordonError(f"an index key must fit in 64 signed bits, got {key}")
    return key


def _check_value(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise CordonError(f"an exact index holds digest strings, got {value!r:.80}")
    return value


class ExactIndex(SignalIndex[str]):
    """Digests under integer keys; a query returns the keys whose digest is identical."""

    def __init__(self) -> None:
        self._by_value: dict[str, set[int]] = {}
        self._by_key: dict[int, str] = {}

    def add(self, key: int, value: str) -> None:
        key, value = _check_key(key), _check_value(value)
        self.remove(key)
        self._by_key[key] = value
        self._by_value.setdefault(value, set()).add(key)

    def remove(self, key: int) -> None:
        value = self._by_key.pop(key, None)
        if value is None:
            return
        keys = self._by_value[value]
        keys.discard(key)
        if not keys:
            del self._by_value[value]

    def query(self, value: str, threshold: float | None = None) -> list[IndexMatch]:
        # Digests match or they do not: a threshold has nothing to loosen.
        return [IndexMatch(key, 0) for key in sorted(self._by_value.get(value, ()))]

    def __len__(self) -> int:
        return len(self._by_key)

    def __contains__(self, key: object) -> bool:
        return key in self._by_key

    def save(self, path: Path) -> None:
        path = Path(path)
        body = {
            "format": _SNAPSHOT_FORMAT,
            "version": _SNAPSHOT_VERSION,
            "entries": [[key, value] for key, value in self._by_key.items()],
        }
        with snapshot_writer(path, "exact index") as out:
            out.write(json.dumps(body, separators=(",", ":")).encode())

    @classmethod
    def load(cls, path: Path) -> ExactIndex:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise CordonError(
                f"cannot read the exact index snapshot {path}: {exc.strerror}"
            ) from None
        except UnicodeDecodeError:
            raise CordonError(f"{path} is not an exact index snapshot") from None
        try:
            body = json.loads(text)
        except ValueError:
            raise CordonError(f"{path} is not an exact index snapshot") from None
        if not isinstance(body, dict) or body.get("format") != _SNAPSHOT_FORMAT:
            raise CordonError(f"{path} is not an exact index snapshot")
        if body.get("version") != _SNAPSHOT_VERSION:
            raise CordonError(
                f"{path} is an exact index snapshot of unsupported version {body.get('version')}"
            )
        entries = body.get("entries")
        if not isinstance(entries, list):
            raise CordonError(f"{path} is a damaged exact index snapshot (no entries)")
        index = cls()
        for entry in entries:
            if not isinstance(entry, list) or len(entry) != 2:
                raise CordonError(f"{path} is a damaged exact index snapshot (bad entry)")
            try:
                index.add(entry[0], entry[1])
            except CordonError as exc:
                raise CordonError(f"{path} is a damaged exact index snapshot ({exc})") from None
        return index
