"""Matching signals against banked entries, one index per signal type.

The matcher knows entries only by integer id and signal values; where the entries come from
(a local bank, a hub mirror) and what to do with a match is the caller's business.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cordon.index.base import SignalIndex
from cordon.signals import SignalType, get_signal_type


@dataclass(frozen=True, slots=True)
class SignalMatch:
    entry_id: int
    signal_type: str
    distance: float
    # Distance relative to the threshold used: 0 is identical, 1 is at the threshold.
    # Ranks matches of different signal types on one scale.
    score: float
    detail: Mapping[str, Any] = field(default_factory=dict)


class Matcher:
    """Per-signal-type indexes over entry ids, with incremental add and remove."""

    def __init__(self, thresholds: Mapping[str, float] | None = None) -> None:
        self._thresholds = {get_signal_type(n).name: t for n, t in (thresholds or {}).items()}
        self._indexes: dict[str, SignalIndex[Any]] = {}
        # The signal types of each entry, as one shared frozenset per combination: a set per
        # entry would be a million objects for the garbage collector to walk in a full
        # collection (100 ms and more for a 1M-entry bank) and 200 bytes each.
        self._entries: dict[int, frozenset[str]] = {}
        self._kinds: dict[frozenset[str], frozenset[str]] = {}

    def _kind(self, names: Iterable[str]) -> frozenset[str]:
        kind = frozenset(names)
        return self._kinds.setdefault(kind, kind)

    def threshold(self, signal: SignalType) -> float:
        return signal.threshold(self._thresholds.get(signal.name))

    def _index(self, signal: SignalType) -> SignalIndex[Any]:
        index = self._indexes.get(signal.name)
        if index is None:
            index = signal.make_index(self.threshold(signal))
            self._indexes[signal.name] = index
        return index

    def add(self, entry_id: int, signals: Mapping[str, Any]) -> None:
        """Index an entry's signal values (replacing what was indexed for it before)."""
        self.remove(entry_id)
        for name, value in signals.items():
            self._index(get_signal_type(name)).add(entry_id, value)
        self._entries[entry_id] = self._kind(signals)

    def add_many(self, signal_name: str, items: Iterable[tuple[int, Any]]) -> None:
        """Bulk-load values of one signal type (e.g. when a bank is opened)."""
        signal = get_signal_type(signal_name)
        index = self._index(signal)
        pairs = list(items)
        index.add_many(pairs)
        only = self._kind((signal.name,))
        entries = self._entries
        for entry_id, _ in pairs:
            kind = entries.get(entry_id)
            if kind is None:
                entries[entry_id] = only
            elif signal.name not in kind:
                entries[entry_id] = self._kind((*kind, signal.name))

    def remove(self, entry_id: int) -> None:
        for name in self._entries.pop(entry_id, ()):
            self._indexes[name].remove(entry_id)

    def __len__(self) -> int:
        return len(self._entries)

    def sizes(self) -> dict[str, int]:
        return {name: len(index) for name, index in self._indexes.items()}

    def match(self, signals: Mapping[str, Any]) -> list[SignalMatch]:
        """Every indexed entry matching any of the given values, best first."""
        found: list[SignalMatch] = []
        for name, value in signals.items():
            index = self._indexes.get(name)
            if index is None or not len(index):
                continue
            signal = get_signal_type(name)
            threshold = self.threshold(signal)
            for hit in index.query(value, threshold):
                score = hit.distance / threshold if threshold else float(hit.distance > 0)
                found.append(SignalMatch(hit.key, name, hit.distance, score, hit.detail))
        found.sort(key=lambda m: (m.score, m.distance, m.entry_id, m.signal_type))
        return found
