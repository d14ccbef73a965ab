"""The match-index interface shared by every signal type."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class IndexMatch:
    """One indexed value that matches a query."""

    key: int
    distance: float
    # Type-specific evidence (e.g. vPDQ coverage and aligned segments, TMK level scores).
    detail: Mapping[str, Any] = field(default_factory=dict)


class SignalIndex(ABC, Generic[V]):
    """Values of one signal type under integer keys (entry ids); incremental, snapshot-able."""

    @abstractmethod
    def add(self, key: int, value: V) -> None:
        """Add (or replace) the value stored under `key`."""

    def add_many(self, items: Iterable[tuple[int, V]]) -> None:
        for key, value in items:
            self.add(key, value)

    @abstractmethod
    def remove(self, key: int) -> None:
        """Remove `key`; unknown keys are ignored."""

    @abstractmethod
    def query(self, value: V, threshold: float | None = None) -> list[IndexMatch]:
        """Every indexed value within `threshold` of `value`, closest first."""

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def save(self, path: Path) -> None:
        """Write a snapshot that `load` restores."""

    @classmethod
    @abstractmethod
    def load(cls, path: Path) -> SignalIndex[V]: ...
