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
        # The signal types of each entry, as a bit mask over `_types`: ints are not tracked by
        # the garbage collector, so neither is this dict. A set per entry would be a million
        # objects for a full collection to walk with a 1M-entry bank (100 ms and more), and
        # even shared sets as values would have every collection of the dict walk its million
        # items.
        self._entries: dict[int, int] = {}
        self._types: list[str] = []

    def _bit(self, name: str) -> int:
        if name not in self._types:
            self._types.append(name)
        return 1 << self._types.index(name)

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
        mask = 0
        for name, value in signals.items():
            signal = get_signal_type(name)
            self._index(signal).add(entry_id, value)
            mask |= self._bit(signal.name)
        self._entries[entry_id] = mask

    def add_many(self, signal_name: str, items: Iterable[tuple[int, Any]]) -> None:
        """Bulk-load values of one signal type (e.g. when a bank is opened)."""
        signal = get_signal_type(signal_name)
        index = self._index(signal)
        pairs = list(items)
        index.add_many(pairs)
        bit = self._bit(signal.name)
        entries = self._entries
        for entry_id, _ in pairs:
            entries[entry_id] = entries.get(entry_id, 0) | bit

    def remove(self, entry_id: int) -> None:
        mask = self._entries.pop(entry_id, 0)
        for position, name in enumerate(self._types):
            if mask >> position & 1:
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
