"""SQL for banks and entries. Callers pass values already validated by their signal type;
nothing here knows about signal type names."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    String,
    and_,
    any_,
    bindparam,
    func,
    insert,
    select,
    update,
)

from cordon.store.bulk import allocate_entry_ids, bulk_insert
from cordon.store.database import Writer
from cordon.store.models import banks, entries, entry_labels, entry_signals
from cordon.store.types import utcnow

# Bound parameters per IN (...) query: well under the limits of SQLite (32766) and
# PostgreSQL (65535), large enough that a 10,000-record batch needs few round trips.
_IN_CHUNK = 5000
_PAGE = 2000


def lookup_key(value: str) -> str:
    """The fixed-size exact-match key of a signal's compact form."""
    return hashlib.blake2b(value.encode(), digest_size=16).hexdigest()


@dataclass(frozen=True, slots=True)
class SignalDraft:
    signal_type: str
    value: str
    detail: dict[str, Any] | None = None
    lookup: str = ""
    # (signal type, lookup), the bank-wide identity of the value; kept rather than derived
    # because an import consults it several times per record.
    key: tuple[str, str] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", (self.signal_type, self.lookup))

    @classmethod
    def of(cls, signal_type: str, value: str, detail: dict[str, Any] | None = None) -> SignalDraft:
        return cls(signal_type, value, detail or None, lookup_key(value))


@dataclass(slots=True)
class EntryDraft:
    """An entry to add or merge: same signal in the same bank means the same entry."""

    signals: list[SignalDraft]
    labels: set[str] = field(default_factory=set)
    content_type: str | None = None
    source: str | None = None
    note: str | None = None
    withdrawn: bool = False

    def merge(self, other: EntryDraft) -> None:
        known = {s.key for s in self.signals}
        self.signals.extend(s for s in other.signals if s.key not in known)
        self.labels |= other.labels
        self.withdrawn = self.withdrawn or other.withdrawn
        self.content_type = self.content_type or other.content_type
        self.source = self.source or other.source
        self.note = self.note or other.note


@dataclass
class UpsertCounts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    withdrawn: int = 0
    # Live records whose entry had been withdrawn: withdrawal is kept (it is a decision).
    still_withdrawn: int = 0
    entry_ids: list[int] = field(default_factory=list)
    # The entry of each draft given, in order (None for a draft without signals): what a
    # caller answers with, without looking the signals up again.
    draft_ids: list[int | None] = field(default_factory=list)

    def add(self, other: UpsertCounts) -> None:
        self.created += other.created
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.withdrawn += other.withdrawn
        self.still_withdrawn += other.still_withdrawn


@dataclass(frozen=True)
class BankRow:
    id: int
    name: str
    description: str | None
    created_at: datetime
    updated_at: datetime
    change_seq: int


@dataclass(frozen=True)
class EntryRow:
    id: int
    bank_id: int
    content_type: str | None
    source: str | None
    note: str | None
    created_at: datetime
    updated_at: datetime
    withdrawn_at: datetime | None
    change_seq: int
    signals: list[SignalDraft]
    labels: list[str]


def _bank(row: Any) -> BankRow:
    return BankRow(row.id, row.name, row.description, row.created_at, row.updated_at,
                   row.change_seq)


# --- banks -----------------------------------------------------------------------------------
def create_bank(writer: Writer, name: str, description: str | None) -> BankRow:
    now = utcnow()
    values = {"name": name, "description": description, "created_at": now, "updated_at": now,
              "change_seq": writer.next_seq()}
    bank_id = writer.connection.execute(insert(banks).returning(banks.c.id), values).scalar_one()
    return BankRow(id=bank_id, **values)


def find_bank(connection: Connection, name: str) -> BankRow | None:
    row = connection.execute(select(banks).where(banks.c.name == name)).first()
    return None if row is None else _bank(row)


def list_banks(connection: Connection) -> list[BankRow]:
    return [_bank(row) for row in connection.execute(select(banks).order_by(banks.c.name))]


@dataclass
class BankCounts:
    live: int = 0
    withdrawn: int = 0
    signals: dict[str, int] = field(default_factory=dict)
    labels: dict[str, int] = field(default_factory=dict)
    last_change: datetime | None = None


def bank_counts(connection: Connection, bank_id: int) -> BankCounts:
    counts = BankCounts()
    in_bank = entries.c.bank_id == bank_id
    query = select(entries.c.withdrawn_at.is_(None), func.count(), func.max(entries.c.updated_at))
    for live, count, last in connection.execute(
        query.where(in_bank).group_by(entries.c.withdrawn_at.is_(None))
    ):
        if live:
            counts.live = count
        else:
            counts.withdrawn = count
        counts.last_change = max(filter(None, (counts.last_change, last)), default=None)
    live_entries = and_(in_bank, entries.c.withdrawn_at.is_(None))
    signal_query = (
        select(entry_signals.c.signal_type, func.count())
        .join(entries, entries.c.id == entry_signals.c.entry_id)
        .where(live_entries)
        .group_by(entry_signals.c.signal_type)
        .order_by(entry_signals.c.signal_type)
    )
    counts.signals = {name: n for name, n in connection.execute(signal_query)}
    label_query = (
        select(entry_labels.c.label, func.count())
        .join(entries, entries.c.id == entry_labels.c.entry_id)
        .where(live_entries)
        .group_by(entry_labels.c.label)
        .order_by(func.count().desc(), entry_labels.c.label)
    )
    counts.labels = {label: n for label, n in connection.execute(label_query)}
    return counts


# --- entries ---------------------------------------------------------------------------------
def _chunks(items: Sequence[Any], size: int = _IN_CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _one_of(connection: Connection, column: Any, values: Sequence[str]) -> Any:
    if connection.dialect.name == "postgresql":
        # One parameter plans in microseconds; thousands of IN parameters do not. Sent as
        # one comma-joined string rather than an array: the driver's array dumper cost
        # more than the query (the values are hex digests, so ',' cannot occur in them).
        joined = bindparam("values", ",".join(values), type_=String)
        return column == any_(func.string_to_array(joined, ","))
    return column.in_(values)


def _existing_signals(
    connection: Connection, bank_id: int, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], int]:
    by_type: dict[str, list[str]] = defaultdict(list)
    for signal_type, lookup in keys:
        by_type[signal_type].append(lookup)
    found: dict[tuple[str, str], int] = {}
    for signal_type, lookups in by_type.items():
        for chunk in _chunks(lookups):
            query = select(entry_signals.c.lookup, entry_signals.c.entry_id).where(
                entry_signals.c.bank_id == bank_id,
                entry_signals.c.signal_type == signal_type,
                _one_of(connection, entry_signals.c.lookup, chunk),
            )
            for lookup, entry_id in connection.execute(query):
                found[(signal_type, lookup)] = entry_id
    return found


def _merge_batch(drafts: Iterable[EntryDraft]) -> tuple[list[EntryDraft], list[int]]:
    """Drafts sharing a signal merged into one; returns them and, for each draft given,
    the index of the merged draft it went into."""
    merged: list[EntryDraft] = []
    positions: list[int] = []
    owner: dict[tuple[str, str], int] = {}
    # Drafts are taken as given and copied only when another is merged into them (rare):
    # the caller's drafts are never changed, and a batch of distinct entries copies nothing.
    copied: set[int] = set()
    for draft in drafts:
        index = None
        for s in draft.signals:
            index = owner.get(s.key)
            if index is not None:
                break
        if index is None:
            index = len(merged)
            merged.append(draft)
        else:
            if index not in copied:
                first = merged[index]
                merged[index] = EntryDraft(list(first.signals), set(first.labels),
                                           first.content_type, first.source, first.note,
                                           first.withdrawn)
                copied.add(index)
            merged[index].merge(draft)
        positions.append(index)
        for signal in draft.signals:
            owner.setdefault(signal.key, index)
    return merged, positions


_ENTRY_COLUMNS = ("id", "bank_id", "content_type", "source", "note", "created_at", "updated_at",
                  "withdrawn_at", "change_seq")
_SIGNAL_COLUMNS = ("bank_id", "signal_type", "lookup", "entry_id", "value", "detail")
_LABEL_COLUMNS = ("entry_id", "label")


def _signal_rows(
    bank_id: int, entry_id: int, signals: Iterable[SignalDraft]
) -> Iterator[tuple[Any, ...]]:
    for s in signals:
        yield (bank_id, s.signal_type, s.lookup, entry_id, s.value, s.detail)


def upsert_entries(writer: Writer, bank_id: int, drafts: Iterable[EntryDraft]) -> UpsertCounts:
    """Add new entries and merge the others into the entries that already hold their signals.

    Idempotent: running the same drafts again changes nothing, which is what makes a killed
    import resumable by simply running it again.
    """
    connection = writer.connection
    merged, positions = _merge_batch(drafts)
    merged_ids: list[int | None] = [None] * len(merged)
    counts = UpsertCounts()
    batch = [d for d in merged if d.signals]
    if not batch:
        counts.draft_ids = [None] * len(positions)
        return counts
    now = utcnow()
    existing = _existing_signals(connection, bank_id, (s.key for d in batch for s in d.signals))
    fresh: list[EntryDraft] = []
    fresh_at: list[int] = []
    known: list[tuple[int, EntryDraft]] = []
    for index, draft in enumerate(merged):
        if not draft.signals:
            continue
        entry_id = None
        for s in draft.signals:
            entry_id = existing.get(s.key)
            if entry_id is not None:
                break
        if entry_id is None:
            fresh.append(draft)
            fresh_at.append(index)
        else:
            known.append((entry_id, draft))
            merged_ids[index] = entry_id
    signal_rows: list[tuple[Any, ...]] = []
    label_rows: list[tuple[int, str]] = []
    if fresh:
        ids = allocate_entry_ids(connection, len(fresh))
        seqs = writer.next_seqs(len(fresh))
        rows = [
            (entry_id, bank_id, d.content_type, d.source, d.note, now, now,
             now if d.withdrawn else None, seq)
            for entry_id, d, seq in zip(ids, fresh, seqs, strict=True)
        ]
        bulk_insert(connection, entries, _ENTRY_COLUMNS, rows)
        for entry_id, draft in zip(ids, fresh, strict=True):
            signal_rows.extend(_signal_rows(bank_id, entry_id, draft.signals))
            label_rows.extend((entry_id, label) for label in draft.labels)
        counts.entry_ids.extend(ids)
        for index, entry_id in zip(fresh_at, ids, strict=True):
            merged_ids[index] = entry_id
        counts.created = len(fresh)
        counts.withdrawn += sum(d.withdrawn for d in fresh)
    if known:
        _merge_known(writer, bank_id, known, existing, now, counts, signal_rows, label_rows)
    bulk_insert(connection, entry_signals, _SIGNAL_COLUMNS, signal_rows)
    bulk_insert(connection, entry_labels, _LABEL_COLUMNS, label_rows)
    counts.draft_ids = [merged_ids[index] for index in positions]
    return counts


def _merge_known(
    writer: Writer,
    bank_id: int,
    known: list[tuple[int, EntryDraft]],
    existing: dict[tuple[str, str], int],
    now: datetime,
    counts: UpsertCounts,
    signal_rows: list[tuple[Any, ...]],
    label_rows: list[tuple[int, str]],
) -> None:
    connection = writer.connection
    # Existing rows are about to be read and changed: hold the change counter first, so that
    # a deferred writer never holds rows that a writer holding the counter waits for.
    writer.lock()
    ids = sorted({entry_id for entry_id, _ in known})
    withdrawn_at: dict[int, datetime | None] = {}
    labels: dict[int, set[str]] = defaultdict(set)
    for chunk in _chunks(ids):
        query = select(entries.c.id, entries.c.withdrawn_at).where(entries.c.id.in_(chunk))
        withdrawn_at.update({row.id: row.withdrawn_at for row in connection.execute(query)})
        label_query = select(entry_labels.c.entry_id, entry_labels.c.label).where(
            entry_labels.c.entry_id.in_(chunk)
        )
        for entry_id, label in connection.execute(label_query):
            labels[entry_id].add(label)
    changes: list[dict] = []
    for entry_id, draft in known:
        counts.entry_ids.append(entry_id)
        new_labels = draft.labels - labels[entry_id]
        new_signals = [s for s in draft.signals if s.key not in existing]
        withdraw = draft.withdrawn and withdrawn_at[entry_id] is None
        if not (new_labels or new_signals or withdraw):
            if not draft.withdrawn and withdrawn_at[entry_id] is not None:
                counts.still_withdrawn += 1
            else:
                counts.unchanged += 1
            continue
        labels[entry_id] |= new_labels
        for signal in new_signals:
            existing[signal.key] = entry_id
        signal_rows.extend(_signal_rows(bank_id, entry_id, new_signals))
        label_rows.extend((entry_id, label) for label in new_labels)
        if withdraw:
            withdrawn_at[entry_id] = now
            counts.withdrawn += 1
        else:
            counts.updated += 1
        changes.append({"entry_id": entry_id, "withdrawn_at": withdrawn_at[entry_id]})
    # One change number per changed entry, even if the batch named it twice.
    final = {change["entry_id"]: change for change in changes}
    for change, seq in zip(final.values(), writer.next_seqs(len(final)), strict=True):
        change.update(updated_at=now, change_seq=seq)
    if final:
        statement = (
            update(entries)
            .where(entries.c.id == bindparam("entry_id"))
            .values(updated_at=bindparam("updated_at"), change_seq=bindparam("change_seq"),
                    withdrawn_at=bindparam("withdrawn_at"))
        )
        connection.execute(statement, list(final.values()))


def withdraw_entry(writer: Writer, bank_id: int, entry_id: int) -> EntryRow | None:
    """Withdraw one entry (kept as a tombstone); None if the bank has no such entry."""
    entry = get_entry(writer.connection, bank_id, entry_id)
    if entry is None or entry.withdrawn_at is not None:
        return entry
    now = utcnow()
    writer.connection.execute(
        update(entries)
        .where(entries.c.id == entry_id)
        .values(withdrawn_at=now, updated_at=now, change_seq=writer.next_seq())
    )
    return get_entry(writer.connection, bank_id, entry_id)


def get_entry(connection: Connection, bank_id: int, entry_id: int) -> EntryRow | None:
    query = select(entries).where(entries.c.bank_id == bank_id, entries.c.id == entry_id)
    return next(_with_details(connection, list(connection.execute(query))), None)


def get_entries(connection: Connection, entry_ids: Iterable[int]) -> list[EntryRow]:
    """Entries by id, whatever their bank (matches name entries by id alone)."""
    ids = sorted(set(entry_ids))
    rows: list[Any] = []
    for chunk in _chunks(ids):
        rows.extend(connection.execute(select(entries).where(entries.c.id.in_(chunk))))
    return list(_with_details(connection, rows))


def _with_details(connection: Connection, rows: list[Any]) -> Iterator[EntryRow]:
    ids = [row.id for row in rows]
    signals: dict[int, list[SignalDraft]] = defaultdict(list)
    labels: dict[int, list[str]] = defaultdict(list)
    for chunk in _chunks(ids):
        signal_query = (
            select(entry_signals)
            .where(entry_signals.c.entry_id.in_(chunk))
            .order_by(entry_signals.c.entry_id, entry_signals.c.signal_type)
        )
        for s in connection.execute(signal_query):
            signals[s.entry_id].append(SignalDraft(s.signal_type, s.value, s.detail, s.lookup))
        label_query = (
            select(entry_labels)
            .where(entry_labels.c.entry_id.in_(chunk))
            .order_by(entry_labels.c.entry_id, entry_labels.c.label)
        )
        for lb in connection.execute(label_query):
            labels[lb.entry_id].append(lb.label)
    for row in rows:
        yield EntryRow(
            row.id, row.bank_id, row.content_type, row.source, row.note, row.created_at,
            row.updated_at, row.withdrawn_at, row.change_seq, signals[row.id], labels[row.id],
        )


def iter_entries(
    connection: Connection, bank_id: int, include_withdrawn: bool = False
) -> Iterator[EntryRow]:
    """Entries of a bank in id order, paged so memory stays flat for any bank size."""
    after = 0
    while True:
        query = select(entries).where(entries.c.bank_id == bank_id, entries.c.id > after)
        if not include_withdrawn:
            query = query.where(entries.c.withdrawn_at.is_(None))
        rows = list(connection.execute(query.order_by(entries.c.id).limit(_PAGE)))
        if not rows:
            return
        yield from _with_details(connection, rows)
        after = rows[-1].id


def iter_live_signals(
    connection: Connection, signal_type: str, bank_ids: Sequence[int] | None = None
) -> Iterator[tuple[int, str, dict[str, Any] | None]]:
    """(entry id, compact value, detail) of every live entry's signals of one type."""
    after = 0
    while True:
        query = (
            select(entries.c.id, entry_signals.c.value, entry_signals.c.detail)
            .join(entries, entries.c.id == entry_signals.c.entry_id)
            .where(
                entry_signals.c.signal_type == signal_type,
                entries.c.withdrawn_at.is_(None),
                entries.c.id > after,
            )
            .order_by(entries.c.id)
            .limit(_PAGE * 5)
        )
        if bank_ids is not None:
            query = query.where(entries.c.bank_id.in_(list(bank_ids)))
        rows = connection.execute(query).all()
        if not rows:
            return
        if len(rows) == _PAGE * 5 and rows[0].id != rows[-1].id:
            # The last entry may have more values of this type on the next page: keep it whole.
            last = rows[-1].id
            rows = [row for row in rows if row.id != last]
        for row in rows:
            yield row.id, row.value, row.detail
        after = rows[-1].id
