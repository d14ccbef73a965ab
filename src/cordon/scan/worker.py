"""What every scan worker holds: the banks and a matcher loaded once, and the step from a
hash result to the JSON line of the output."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cordon.banks import Banks
from cordon.cli.match_cmd import _describe, load_matcher
from cordon.hashing import HashResult, MatchingSelection, hash_file
from cordon.matching import Matcher
from cordon.signals import HashOptions, get_signal_type
from cordon.store import Store


@dataclass(frozen=True)
class ScanSpec:
    """Everything a worker needs to rebuild the matcher on its own (it crosses processes
    and, with Ray, machines: the database must then be reachable from every worker)."""

    database_url: str
    bank_names: tuple[str, ...] = ()
    thresholds: tuple[tuple[str, float], ...] = ()
    options: HashOptions = field(default_factory=HashOptions)


class ScanWorker:
    def __init__(self, spec: ScanSpec, show: bool = False) -> None:
        self.spec = spec
        self.banks = Banks(Store(spec.database_url))
        self.matcher: Matcher = load_matcher(
            self.banks, spec.bank_names or None, dict(spec.thresholds), show
        )
        # Only the signal types the banks hold are computed: nothing else could match.
        self.selection = MatchingSelection(frozenset(self.matcher.sizes()))

    def record(self, result: HashResult) -> dict[str, Any]:
        """The output line of one file: its signals in short, its matches, its error."""
        matches: list[dict[str, Any]] = []
        if result.error is None and result.signals:
            found = self.matcher.match(result.signals)
            entries = self.banks.entries_by_id({m.entry_id for m in found}) if found else {}
            matches = [_describe(m, entries[m.entry_id]) for m in found if m.entry_id in entries]
        return {
            "path": result.path,
            "content_type": result.content_type.value if result.content_type else None,
            "signals": {
                name: get_signal_type(name).summary(value)
                for name, value in result.signals.items()
            },
            "matches": matches,
            "error": result.error,
        }

    def scan(self, batch: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
        """Hash and match (path, display) pairs one after the other in this process."""
        return [
            self.record(hash_file(Path(path), self.selection, self.spec.options, display=display))
            for path, display in batch
        ]

    def close(self) -> None:
        self.banks.store.close()
