"""Bank operations for the CLI, the hub and the node: no SQL outside the store."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from sqlalchemy.exc import IntegrityError

from cordon.banks import formats
from cordon.banks.records import (
    Problem,
    RawRecord,
    SignalCache,
    check_bank_name,
    to_draft,
)
from cordon.errors import CordonError
from cordon.signals import SignalType, get_signal_type
from cordon.store import Store
from cordon.store import repository as repo
from cordon.store.repository import BankRow, EntryDraft, EntryRow

DEFAULT_BATCH = 10_000
# Problems kept for the report; all are counted.
PROBLEMS_KEPT = 100


class UnknownBankError(CordonError):
    def __init__(self, name: str) -> None:
        super().__init__(f"no bank named {name!r} (create it with `cordon bank create {name}`)")


class UnknownEntryError(CordonError):
    exit_code = 1


@dataclass(frozen=True)
class BankInfo:
    name: str
    description: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: BankRow) -> BankInfo:
        return cls(row.name, row.description, row.created_at, row.updated_at)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description,
                "created_at": self.created_at.isoformat(),
                "updated_at": self.updated_at.isoformat()}


@dataclass(frozen=True)
class BankSummary:
    bank: BankInfo
    live: int
    withdrawn: int
    signals: dict[str, int]
    labels: dict[str, int]
    last_change: datetime | None

    def to_json(self) -> dict[str, Any]:
        return {**self.bank.to_json(), "entries": self.live, "withdrawn": self.withdrawn,
                "signals": self.signals, "labels": self.labels,
                "last_change": self.last_change.isoformat() if self.last_change else None}


@dataclass(frozen=True)
class Entry:
    id: int
    bank: str
    content_type: str | None
    source: str | None
    note: str | None
    created_at: datetime
    updated_at: datetime
    withdrawn_at: datetime | None
    signals: list[tuple[str, str]]
    labels: list[str]

    @classmethod
    def of(cls, bank: str, row: EntryRow) -> Entry:
        return cls(row.id, bank, row.content_type, row.source, row.note, row.created_at,
                   row.updated_at, row.withdrawn_at,
                   [(s.signal_type, s.value) for s in row.signals], row.labels)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "bank": self.bank, "content_type": self.content_type,
            "source": self.source, "note": self.note,
            "signals": [{"signal_type": t, "value": v} for t, v in self.signals],
            "labels": self.labels, "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "withdrawn_at": self.withdrawn_at.isoformat() if self.withdrawn_at else None,
        }


@dataclass
class ImportSummary:
    bank: str
    format: str | None = None
    records: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    withdrawn: int = 0
    still_withdrawn: int = 0
    skipped: int = 0
    warnings: int = 0
    problems: list[Problem] = field(default_factory=list)
    entry_ids: list[int] = field(default_factory=list)

    def note(self, problem: Problem) -> None:
        if problem.skipped:
            self.skipped += 1
        else:
            self.warnings += 1
        if len(self.problems) < PROBLEMS_KEPT:
            self.problems.append(problem)

    def absorb(self, counts: repo.UpsertCounts) -> None:
        self.created += counts.created
        self.updated += counts.updated
        self.unchanged += counts.unchanged
        self.withdrawn += counts.withdrawn
        self.still_withdrawn += counts.still_withdrawn

    def to_json(self) -> dict[str, Any]:
        return {
            "bank": self.bank, "format": self.format, "records": self.records,
            "created": self.created, "updated": self.updated, "unchanged": self.unchanged,
            "withdrawn": self.withdrawn, "still_withdrawn": self.still_withdrawn,
            "skipped": self.skipped, "warnings": self.warnings,
            "problems": [{"location": p.location, "message": p.message, "skipped": p.skipped}
                         for p in self.problems],
        }


@dataclass(frozen=True)
class ExportSummary:
    bank: str
    format: str
    written: int
    left_out: int


class Banks:
    """Banks of one store. Thread-compatible; every method is one or more transactions."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # --- banks -----------------------------------------------------------------------------
    def create(self, name: str, description: str | None = None) -> BankInfo:
        check_bank_name(name)
        description = (description or "").strip() or None
        try:
            with self.store.write() as writer:
                if repo.find_bank(writer.connection, name) is not None:
                    raise CordonError(f"a bank named {name!r} already exists")
                return BankInfo.of(repo.create_bank(writer, name, description))
        except IntegrityError:  # created by another writer between our check and insert
            raise CordonError(f"a bank named {name!r} already exists") from None

    def list(self) -> list[BankInfo]:
        with self.store.read() as connection:
            return [BankInfo.of(row) for row in repo.list_banks(connection)]

    def get(self, name: str) -> BankInfo:
        with self.store.read() as connection:
            return BankInfo.of(self._bank(connection, name))

    @staticmethod
    def _bank(connection: Any, name: str) -> BankRow:
        row = repo.find_bank(connection, name)
        if row is None:
            raise UnknownBankError(name)
        return row

    def summary(self, name: str) -> BankSummary:
        with self.store.read() as connection:
            row = self._bank(connection, name)
            counts = repo.bank_counts(connection, row.id)
        return BankSummary(BankInfo.of(row), counts.live, counts.withdrawn, counts.signals,
                           counts.labels, counts.last_change)

    # --- entries ---------------------------------------------------------------------------
    def import_records(
        self,
        name: str,
        items: Iterable[RawRecord | Problem],
        *,
        batch_size: int = DEFAULT_BATCH,
        on_batch: Callable[[ImportSummary], None] | None = None,
        summary: ImportSummary | None = None,
    ) -> ImportSummary:
        """Validate and store records, one transaction per batch; malformed ones are skipped
        and reported. Safe to re-run after an interruption: stored batches are recognized."""
        bank_id = self._bank_id(name)
        summary = summary or ImportSummary(bank=name)
        signals = SignalCache()
        batch: list[EntryDraft] = []
        for item in items:
            if isinstance(item, Problem):
                summary.records += 1
                summary.note(item)
                continue
            summary.records += 1
            for warning in item.warnings:
                summary.note(Problem(item.location, warning, skipped=False))
            try:
                batch.append(to_draft(item, signals))
            except CordonError as exc:
                summary.note(Problem(item.location, str(exc)))
                continue
            if len(batch) >= batch_size:
                self._store_batch(bank_id, batch, summary)
                batch = []
                if on_batch is not None:
                    on_batch(summary)
        if batch:
            self._store_batch(bank_id, batch, summary)
            if on_batch is not None:
                on_batch(summary)
        return summary

    def _bank_id(self, name: str) -> int:
        with self.store.read() as connection:
            return self._bank(connection, name).id

    def _store_batch(self, bank_id: int, batch: list[EntryDraft], summary: ImportSummary) -> None:
        with self.store.write() as writer:
            counts = repo.upsert_entries(writer, bank_id, batch)
        summary.absorb(counts)
        summary.entry_ids.extend(counts.entry_ids[: max(0, 10_000 - len(summary.entry_ids))])

    def add(
        self,
        name: str,
        signals: Mapping[str, Any],
        *,
        labels: Iterable[str] = (),
        content_type: str | None = None,
        source: str | None = None,
        note: str | None = None,
    ) -> int:
        """Add (or merge into) one entry; returns its id. Values may be compact strings,
        JSON forms or parsed values."""
        record = RawRecord("entry", list(signals.items()), list(labels), content_type, source,
                           note)
        summary = self.import_records(name, [record])
        if summary.problems:
            raise CordonError(summary.problems[0].message)
        return summary.entry_ids[0]

    def import_file(
        self,
        name: str,
        path: str | Path,
        fmt: str = formats.AUTO,
        *,
        batch_size: int = DEFAULT_BATCH,
        on_batch: Callable[[ImportSummary, int], None] | None = None,
    ) -> ImportSummary:
        """Import a hash list (`-` for standard input). `on_batch` gets the summary so far and
        the bytes read."""
        self._bank_id(name)  # unknown bank: fail before reading anything
        with _open_input(path) as stream:
            if fmt == formats.AUTO:
                fmt = formats.sniff(stream.peek(1 << 16)[: 1 << 16])
            read = formats.reader(fmt)
            counter = formats.ByteCounter()
            summary = ImportSummary(bank=name, format=fmt)
            report = None if on_batch is None else (lambda s: on_batch(s, counter.position))
            return self.import_records(name, read(stream, counter), batch_size=batch_size,
                                       on_batch=report, summary=summary)

    def withdraw(self, name: str, entry_id: int) -> tuple[Entry, bool]:
        """Withdraw an entry, keeping a tombstone; returns (entry, whether it was live)."""
        with self.store.write() as writer:
            bank = self._bank(writer.connection, name)
            before = repo.get_entry(writer.connection, bank.id, entry_id)
            if before is None:
                raise UnknownEntryError(f"bank {name!r} has no entry {entry_id}")
            row = repo.withdraw_entry(writer, bank.id, entry_id)
        assert row is not None
        return Entry.of(name, row), before.withdrawn_at is None

    def entry(self, name: str, entry_id: int) -> Entry:
        with self.store.read() as connection:
            bank = self._bank(connection, name)
            row = repo.get_entry(connection, bank.id, entry_id)
        if row is None:
            raise UnknownEntryError(f"bank {name!r} has no entry {entry_id}")
        return Entry.of(name, row)

    def entries_by_id(self, entry_ids: Iterable[int]) -> dict[int, Entry]:
        """Entries of any bank by id; ids that do not exist are left out."""
        with self.store.read() as connection:
            names = {bank.id: bank.name for bank in repo.list_banks(connection)}
            rows = repo.get_entries(connection, entry_ids)
        return {row.id: Entry.of(names[row.bank_id], row) for row in rows}

    def entries(self, name: str, include_withdrawn: bool = False) -> Iterator[Entry]:
        with self.store.read() as connection:
            bank = self._bank(connection, name)
            for row in repo.iter_entries(connection, bank.id, include_withdrawn):
                yield Entry.of(name, row)

    def export(
        self, name: str, fmt: str, out: TextIO, include_withdrawn: bool = False
    ) -> ExportSummary:
        write = formats.writer(fmt)
        with self.store.read() as connection:
            bank = self._bank(connection, name)
            rows = repo.iter_entries(connection, bank.id, include_withdrawn)
            written, left_out = write(rows, out, name, include_withdrawn)
        return ExportSummary(name, fmt, written, left_out)

    def live_signals(
        self, signal_type: str | SignalType, banks: Sequence[str] | None = None
    ) -> Iterator[tuple[int, Any]]:
        """(entry id, parsed value) for every live entry's signals of one type, in the given
        banks or all of them: what a matcher loads its index from."""
        signal = get_signal_type(signal_type) if isinstance(signal_type, str) else signal_type
        with self.store.read() as connection:
            bank_ids = None if banks is None else [self._bank(connection, b).id for b in banks]
            for entry_id, value, detail in repo.iter_live_signals(connection, signal.name,
                                                                  bank_ids):
                parsed = signal.from_json({"hash": value, **detail}) if detail \
                    else signal.parse(value)
                yield entry_id, parsed


def _open_input(path: str | Path) -> Any:
    if str(path) == "-":
        return nullcontext(sys.stdin.buffer)
    try:
        stream: BinaryIO = open(path, "rb")  # noqa: SIM115 - closed by the caller's with
    except FileNotFoundError:
        raise CordonError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise CordonError(f"{path}: is a directory, not a hash list") from None
    except PermissionError:
        raise CordonError(f"{path}: permission denied") from None
    except OSError as exc:
        raise CordonError(f"{path}: cannot read ({(exc.strerror or str(exc)).lower()})") from None
    return stream


__all__ = [
    "BankInfo",
    "BankSummary",
    "Banks",
    "Entry",
    "ExportSummary",
    "ImportSummary",
    "UnknownBankError",
    "UnknownEntryError",
]
