"""The hub mirror in the node's store: hub entries become local entries of local banks named
`hub.<hub bank>`, and the feed cursor is written in the same transaction as the entries it
covers, so a node that stops at any point resumes without losing or doubling a change.

Entries the node has not seen before (nearly all of a catch-up) are written in bulk, a run of
them at a time with multi-row inserts; an entry it already holds (an update, a withdrawal, a
repeated delivery) goes through the one-entry path, in feed order."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from cordon.banks.records import signal_draft
from cordon.errors import CordonError
from cordon.hub import cursor as cursors
from cordon.signals import get_signal_type
from cordon.store.bulk import allocate_entry_ids, bulk_insert
from cordon.store.database import Writer
from cordon.store.models import (
    banks,
    entries,
    entry_labels,
    entry_signals,
    node_mirror,
    node_state,
)
from cordon.store.repository import SignalDraft
from cordon.store.types import utcnow

log = logging.getLogger("cordon.node.mirror")

MIRROR_PREFIX = "hub."
CURSOR_KEY = "hub_cursor"

# Bound parameters per IN (...) query, well under the limits of SQLite and PostgreSQL.
_IN_CHUNK = 5000
_ENTRY_COLUMNS = ("id", "bank_id", "content_type", "source", "note", "created_at", "updated_at",
                  "withdrawn_at", "change_seq")
_MIRROR_COLUMNS = ("hub_entry_id", "entry_id", "hub_bank", "hub_change", "incident",
                   "contributor", "disputed", "feedback")
_SIGNAL_COLUMNS = ("lookup", "bank_id", "signal_type", "entry_id", "value", "detail")
_LABEL_COLUMNS = ("entry_id", "label")


def mirror_bank_name(hub_bank: str) -> str:
    return (MIRROR_PREFIX + hub_bank)[:100]


@dataclass
class Applied:
    """What a batch changed, for the in-memory matcher: live entries with their parsed
    signal values, and entries to drop."""

    live: dict[int, list[tuple[str, Any]]] = field(default_factory=dict)
    dropped: set[int] = field(default_factory=set)
    skipped: int = 0

    @property
    def changed(self) -> int:
        return len(self.live) + len(self.dropped)


def read_state(connection: Connection, key: str) -> str | None:
    return connection.execute(
        select(node_state.c.value).where(node_state.c.key == key)).scalar_one_or_none()


def write_state(connection: Connection, key: str, value: str) -> None:
    changed = connection.execute(
        update(node_state).where(node_state.c.key == key).values(value=value)).rowcount
    if not changed:
        connection.execute(insert(node_state).values(key=key, value=value))


def _drafts(signals: Mapping[str, Any]) -> list[SignalDraft]:
    """The entry's signals as the store keeps them. A signal type this node does not know is
    left out (a newer hub may share more types than an older node understands)."""
    return [draft for draft, _ in _values(signals)]


def _values(signals: Mapping[str, Any]) -> list[tuple[SignalDraft, Any]]:
    """Each valid signal value of an entry as the store keeps it and parsed for the index
    (parsed once: a catch-up parses hundreds of thousands)."""
    out: list[tuple[SignalDraft, Any]] = []
    for name, given in signals.items():
        values = given if isinstance(given, list) else [given]
        try:
            signal = get_signal_type(name)
        except CordonError:
            log.warning("hub entry signal type %r is not known here; left out", name)
            continue
        for value in values:
            try:
                if isinstance(value, str):
                    parsed = signal.parse(value)
                    out.append((SignalDraft.of(signal.name, signal.format(parsed)), parsed))
                else:
                    draft = signal_draft(signal, value)
                    out.append((draft, _parsed(draft)[1]))
            except (CordonError, TypeError, ValueError) as exc:
                log.warning("hub entry carries an invalid %s value (%s); left out", name, exc)
    return out


def _parsed(draft: SignalDraft) -> tuple[str, Any]:
    signal = get_signal_type(draft.signal_type)
    if draft.detail:
        return draft.signal_type, signal.from_json({"hash": draft.value, **draft.detail})
    return draft.signal_type, signal.parse(draft.value)


class MirrorWriter:
    """Applies feed entries inside one store transaction."""

    def __init__(self, writer: Writer, follow: frozenset[str] | None) -> None:
        self.writer = writer
        self.connection = writer.connection
        self.follow = follow
        self._bank_ids: dict[str, int] = {}

    def _bank_id(self, hub_bank: str) -> int:
        name = mirror_bank_name(hub_bank)
        known = self._bank_ids.get(name)
        if known is not None:
            return known
        found = self.connection.execute(
            select(banks.c.id).where(banks.c.name == name)).scalar_one_or_none()
        if found is None:
            now = utcnow()
            found = self.connection.execute(
                insert(banks).values(name=name, description=f"mirror of hub bank {hub_bank}",
                                     created_at=now, updated_at=now,
                                     change_seq=self.writer.next_seq())
                .returning(banks.c.id)).scalar_one()
        self._bank_ids[name] = found
        return found

    def apply(self, entries_in: Iterable[Mapping[str, Any]], applied: Applied) -> None:
        items = list(entries_in)
        known = self._known({int(item["id"]) for item in items})
        fresh: list[Mapping[str, Any]] = []
        batched: set[int] = set()
        for item in items:
            hub_id = int(item["id"])
            if hub_id in known or hub_id in batched:
                # Feed order matters for an entry seen twice: write what came before first.
                self._insert_fresh(fresh, applied)
                known |= batched
                fresh, batched = [], set()
                self._apply_one(item, applied)
            else:
                fresh.append(item)
                batched.add(hub_id)
        self._insert_fresh(fresh, applied)

    def _known(self, hub_ids: set[int]) -> set[int]:
        """Which of these hub entries are mirrored already."""
        ids = sorted(hub_ids)
        found: set[int] = set()
        for start in range(0, len(ids), _IN_CHUNK):
            found.update(self.connection.execute(
                select(node_mirror.c.hub_entry_id).where(
                    node_mirror.c.hub_entry_id.in_(ids[start:start + _IN_CHUNK]))).scalars())
        return found

    def _insert_fresh(self, items: list[Mapping[str, Any]], applied: Applied) -> None:
        """Write hub entries not mirrored yet (distinct hub ids) with multi-row inserts."""
        kept: list[tuple[Mapping[str, Any], int, list[tuple[SignalDraft, Any]], bool]] = []
        for item in items:
            out_of_scope = self.follow is not None and item["bank"] not in self.follow
            if out_of_scope:
                applied.skipped += 1
                continue
            values = _values(item.get("signals") or {})
            live = not item.get("withdrawn") and bool(values)
            kept.append((item, self._bank_id(str(item["bank"])), values, live))
        if not kept:
            return
        connection = self.connection
        now = utcnow()
        ids = allocate_entry_ids(connection, len(kept))
        seqs = self.writer.next_seqs(len(kept))
        entry_rows: list[tuple[Any, ...]] = []
        mirror_rows: list[tuple[Any, ...]] = []
        label_rows: list[tuple[Any, ...]] = []
        # The hub keeps a value in one entry of a bank; should a stale copy hold it here (or
        # an earlier entry of this run), the newer entry wins.
        signal_rows: dict[tuple[int, str, str], tuple[Any, ...]] = {}
        for (item, bank_id, values, live), entry_id, seq in zip(kept, ids, seqs, strict=True):
            hub_id = int(item["id"])
            entry_rows.append((entry_id, bank_id, item.get("content_type"), f"hub:{hub_id}",
                               item.get("note"), now, now, None if live else now, seq))
            mirror_rows.append((hub_id, entry_id, str(item["bank"]),
                                cursors.decode(str(item["change"])), item.get("incident"),
                                item.get("contributor"), bool(item.get("disputed")),
                                item.get("feedback")))
            unique = {d.key: (d, parsed) for d, parsed in values}
            for d, _ in unique.values():
                signal_rows[(bank_id, d.signal_type, d.lookup)] = (
                    d.lookup, bank_id, d.signal_type, entry_id, d.value, d.detail)
            label_rows.extend((entry_id, label)
                              for label in sorted({str(x) for x in item.get("labels") or []}))
            if live:
                applied.dropped.discard(entry_id)
                applied.live[entry_id] = [(d.signal_type, parsed)
                                          for d, parsed in unique.values()]
            else:
                applied.dropped.add(entry_id)
        self._drop_stale_signals(signal_rows)
        bulk_insert(connection, entries, _ENTRY_COLUMNS, entry_rows)
        bulk_insert(connection, node_mirror, _MIRROR_COLUMNS, mirror_rows)
        bulk_insert(connection, entry_signals, _SIGNAL_COLUMNS, list(signal_rows.values()))
        bulk_insert(connection, entry_labels, _LABEL_COLUMNS, label_rows)

    def _drop_stale_signals(self, keys: Iterable[tuple[int, str, str]]) -> None:
        grouped: dict[tuple[int, str], list[str]] = {}
        for bank_id, signal_type, lookup in keys:
            grouped.setdefault((bank_id, signal_type), []).append(lookup)
        for (bank_id, signal_type), lookups in grouped.items():
            for start in range(0, len(lookups), _IN_CHUNK):
                self.connection.execute(delete(entry_signals).where(
                    entry_signals.c.bank_id == bank_id,
                    entry_signals.c.signal_type == signal_type,
                    entry_signals.c.lookup.in_(lookups[start:start + _IN_CHUNK])))

    def _apply_one(self, item: Mapping[str, Any], applied: Applied) -> None:
        hub_id = int(item["id"])
        change = cursors.decode(str(item["change"]))
        connection = self.connection
        known = connection.execute(
            select(node_mirror.c.entry_id, node_mirror.c.hub_change)
            .where(node_mirror.c.hub_entry_id == hub_id)).first()
        if known is not None and known.hub_change >= change:
            # A repeated or late delivery: the stored state is as new or newer.
            applied.skipped += 1
            return
        out_of_scope = self.follow is not None and item["bank"] not in self.follow
        if known is None and out_of_scope:
            applied.skipped += 1
            return
        drafts = _drafts(item.get("signals") or {})
        live = not item.get("withdrawn") and bool(drafts) and not out_of_scope
        now = utcnow()
        bank_id = self._bank_id(str(item["bank"]))
        values = {"bank_id": bank_id, "content_type": item.get("content_type"),
                  "source": f"hub:{hub_id}", "note": item.get("note"), "updated_at": now,
                  "withdrawn_at": None if live else now,
                  "change_seq": self.writer.next_seq()}
        mirror = {"hub_bank": str(item["bank"]), "hub_change": change,
                  "incident": item.get("incident"), "contributor": item.get("contributor"),
                  "disputed": bool(item.get("disputed")), "feedback": item.get("feedback")}
        if known is None:
            entry_id = allocate_entry_ids(connection, 1)[0]
            connection.execute(insert(entries).values(id=entry_id, created_at=now, **values))
            connection.execute(insert(node_mirror).values(hub_entry_id=hub_id,
                                                          entry_id=entry_id, **mirror))
        else:
            entry_id = known.entry_id
            connection.execute(update(entries).where(entries.c.id == entry_id).values(**values))
            connection.execute(update(node_mirror).where(node_mirror.c.hub_entry_id == hub_id)
                               .values(**mirror))
            connection.execute(delete(entry_signals).where(entry_signals.c.entry_id == entry_id))
            connection.execute(delete(entry_labels).where(entry_labels.c.entry_id == entry_id))
        unique = {d.key: d for d in drafts}
        for draft in unique.values():
            # The hub keeps a value in one entry of a bank; should a stale copy hold it here,
            # the newer entry wins.
            connection.execute(delete(entry_signals).where(
                entry_signals.c.lookup == draft.lookup, entry_signals.c.bank_id == bank_id,
                entry_signals.c.signal_type == draft.signal_type))
        if unique:
            connection.execute(insert(entry_signals), [
                {"lookup": d.lookup, "bank_id": bank_id, "signal_type": d.signal_type,
                 "entry_id": entry_id, "value": d.value, "detail": d.detail}
                for d in unique.values()])
        labels = sorted({str(label) for label in item.get("labels") or []})
        if labels:
            connection.execute(insert(entry_labels),
                               [{"entry_id": entry_id, "label": label} for label in labels])
        if live:
            applied.dropped.discard(entry_id)
            applied.live[entry_id] = [_parsed(d) for d in unique.values()]
        else:
            applied.live.pop(entry_id, None)
            applied.dropped.add(entry_id)
