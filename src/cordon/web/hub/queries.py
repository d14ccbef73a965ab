"""Reads the hub's pages need beyond the API's: recent entries and entry search over the
banks a member may see. Visibility always comes from `hub_repository.visible_bank_ids`."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, or_, select

from cordon.banks.records import signal_draft
from cordon.errors import CordonError
from cordon.signals import all_signal_types
from cordon.store import hub_repository as hub_repo
from cordon.store.hub_repository import MemberRow
from cordon.store.models import (
    banks,
    entries,
    entry_labels,
    entry_signals,
    hub_entries,
    hub_feedback,
    hub_members,
)


@dataclass
class EntryLine:
    id: int
    bank: str
    content_type: str | None
    note: str | None
    created_at: datetime
    updated_at: datetime
    withdrawn_at: datetime | None
    # The entry's last change number: lists are ordered by it, newest change first.
    change_seq: int
    contributor: str | None
    disputed: bool
    labels: list[str] = field(default_factory=list)
    signal_types: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class EntrySearch:
    text: str = ""          # a hash of any signal type, as its compact string
    label: str = ""
    contributor: str = ""
    bank: str = ""
    withdrawn: bool = False  # include withdrawn entries


def hash_keys(text: str) -> list[tuple[str, str]]:
    """(signal type, lookup) of every signal type that reads `text` as one of its hashes."""
    keys = []
    for signal in all_signal_types():
        try:
            draft = signal_draft(signal, text)
        except (CordonError, TypeError, ValueError):
            continue
        keys.append((signal.name, draft.lookup))
    return keys


def search_entries(conn: Connection, member: MemberRow, search: EntrySearch,
                   before: int | None, limit: int) -> list[EntryLine]:
    """Entries matching every given criterion, most recently changed first (the order of
    an index on every backend: no sort of the whole bank), `limit` of them whose change number
    is below `before`. A criterion that can match nothing (an unknown contributor, text that is no
    hash) gives no entries rather than an error."""
    visible = hub_repo.visible_bank_ids(conn, member)
    query = (select(entries.c.id, banks.c.name.label("bank"), entries.c.content_type,
                    entries.c.note, entries.c.created_at, entries.c.updated_at,
                    entries.c.withdrawn_at, entries.c.change_seq,
                    hub_members.c.name.label("contributor"), hub_entries.c.disputed)
             .join(banks, banks.c.id == entries.c.bank_id)
             .outerjoin(hub_entries, hub_entries.c.entry_id == entries.c.id)
             .outerjoin(hub_members, hub_members.c.id == hub_entries.c.member_id)
             .order_by(entries.c.change_seq.desc()).limit(limit))
    if visible is not None:
        query = query.where(entries.c.bank_id.in_(visible))
    if before is not None:
        query = query.where(entries.c.change_seq < before)
    if not search.withdrawn:
        query = query.where(entries.c.withdrawn_at.is_(None))
    if search.bank:
        # By id, so that the (bank, change number) index serves both filter and order.
        bank_id = conn.execute(select(banks.c.id).where(banks.c.name == search.bank)).scalar()
        if bank_id is None:
            return []
        query = query.where(entries.c.bank_id == bank_id)
    if search.contributor:
        query = query.where(hub_members.c.name == search.contributor)
    if search.label:
        query = query.where(entries.c.id.in_(
            select(entry_labels.c.entry_id).where(entry_labels.c.label == search.label.strip())))
    if search.text:
        keys = hash_keys(search.text.strip())
        if not keys:
            return []
        query = query.where(entries.c.id.in_(select(entry_signals.c.entry_id).where(
            or_(*(and_(entry_signals.c.signal_type == name, entry_signals.c.lookup == lookup)
                  for name, lookup in keys)))))
    lines = [EntryLine(r.id, r.bank, r.content_type, r.note, r.created_at, r.updated_at,
                       r.withdrawn_at, r.change_seq, r.contributor, bool(r.disputed))
             for r in conn.execute(query)]
    _fill(conn, lines)
    return lines


def _fill(conn: Connection, lines: list[EntryLine]) -> None:
    if not lines:
        return
    ids = [line.id for line in lines]
    labels: dict[int, list[str]] = defaultdict(list)
    for entry_id, label in conn.execute(select(entry_labels.c.entry_id, entry_labels.c.label)
                                        .where(entry_labels.c.entry_id.in_(ids))
                                        .order_by(entry_labels.c.label)):
        labels[entry_id].append(label)
    types: dict[int, list[str]] = defaultdict(list)
    for entry_id, name in conn.execute(select(entry_signals.c.entry_id, entry_signals.c.signal_type)
                                       .where(entry_signals.c.entry_id.in_(ids))
                                       .order_by(entry_signals.c.signal_type)):
        types[entry_id].append(name)
    for line in lines:
        line.labels = labels[line.id]
        line.signal_types = types[line.id]


def feedback_of(conn: Connection, entry_id: int) -> list[dict[str, Any]]:
    """Every member's current verdict on an entry, newest first."""
    rows = conn.execute(
        select(hub_members.c.name, hub_feedback.c.verdict, hub_feedback.c.note,
               hub_feedback.c.updated_at)
        .join(hub_members, hub_members.c.id == hub_feedback.c.member_id)
        .where(hub_feedback.c.entry_id == entry_id)
        .order_by(hub_feedback.c.updated_at.desc()))
    return [{"member": r.name, "verdict": r.verdict, "note": r.note, "at": r.updated_at}
            for r in rows]

