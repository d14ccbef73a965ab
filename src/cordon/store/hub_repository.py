"""SQL for the hub: members and tokens, bank sharing, contributors and feedback of entries,
the change feed, the audit log and statistics. Callers validate values first; entries
themselves are written through `cordon.store.repository`."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any

from sqlalchemy import (
    BigInteger,
    Connection,
    String,
    and_,
    any_,
    bindparam,
    cast,
    delete,
    func,
    insert,
    literal_column,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from cordon.store import repository as repo
from cordon.store.bulk import bulk_insert
from cordon.store.database import Writer
from cordon.store.models import (
    banks,
    change_counter,
    entries,
    entry_labels,
    entry_signals,
    hub_audit,
    hub_bank_shares,
    hub_banks,
    hub_entries,
    hub_feedback,
    hub_members,
    hub_tokens,
)
from cordon.store.repository import BankRow
from cordon.store.types import utcnow

VERDICTS = ("confirm", "false_positive", "disagree_label")


# --- members and tokens ----------------------------------------------------------------------
@dataclass(frozen=True)
class MemberRow:
    id: int
    name: str
    role: str
    created_at: datetime


def _member(row: Any) -> MemberRow:
    return MemberRow(row.id, row.name, row.role, row.created_at)


def insert_member(connection: Connection, name: str, role: str) -> MemberRow:
    now = utcnow()
    member_id = connection.execute(
        insert(hub_members).returning(hub_members.c.id),
        {"name": name, "role": role, "created_at": now},
    ).scalar_one()
    return MemberRow(member_id, name, role, now)


def find_member(connection: Connection, name: str) -> MemberRow | None:
    row = connection.execute(select(hub_members).where(hub_members.c.name == name)).first()
    return None if row is None else _member(row)


def list_members(connection: Connection) -> list[tuple[MemberRow, list[tuple[int, datetime]]]]:
    """Members by name, each with its live tokens (id, created at)."""
    live: dict[int, list[tuple[int, datetime]]] = defaultdict(list)
    query = select(hub_tokens.c.id, hub_tokens.c.member_id, hub_tokens.c.created_at).where(
        hub_tokens.c.revoked_at.is_(None)
    ).order_by(hub_tokens.c.id)
    for token_id, member_id, created in connection.execute(query):
        live[member_id].append((token_id, created))
    rows = connection.execute(select(hub_members).order_by(hub_members.c.name))
    return [(_member(row), live[row.id]) for row in rows]


def member_names(connection: Connection) -> dict[int, str]:
    return dict(connection.execute(select(hub_members.c.id, hub_members.c.name)).all())


def insert_token(connection: Connection, member_id: int, digest: str) -> int:
    return connection.execute(
        insert(hub_tokens).returning(hub_tokens.c.id),
        {"member_id": member_id, "digest": digest, "created_at": utcnow()},
    ).scalar_one()


def revoke_token(connection: Connection, token_id: int) -> str | None:
    """Revoke a token; returns its member's name, or None when no live token has this id."""
    row = connection.execute(
        select(hub_members.c.name)
        .join(hub_tokens, hub_tokens.c.member_id == hub_members.c.id)
        .where(hub_tokens.c.id == token_id, hub_tokens.c.revoked_at.is_(None))
    ).first()
    if row is None:
        return None
    connection.execute(
        update(hub_tokens).where(hub_tokens.c.id == token_id).values(revoked_at=utcnow())
    )
    return str(row.name)


def member_for_token(connection: Connection, digest: str) -> MemberRow | None:
    row = connection.execute(
        select(hub_members)
        .join(hub_tokens, hub_tokens.c.member_id == hub_members.c.id)
        .where(hub_tokens.c.digest == digest, hub_tokens.c.revoked_at.is_(None))
    ).first()
    return None if row is None else _member(row)


def token_owner(connection: Connection, digest: str) -> tuple[MemberRow, int] | None:
    """The member and id of the token with this digest, revoked or not."""
    row = connection.execute(
        select(hub_members, hub_tokens.c.id.label("token_id"))
        .join(hub_tokens, hub_tokens.c.member_id == hub_members.c.id)
        .where(hub_tokens.c.digest == digest)
    ).first()
    return None if row is None else (_member(row), int(row.token_id))


# --- banks and sharing -----------------------------------------------------------------------
@dataclass(frozen=True)
class HubBankRow:
    bank: BankRow
    owner: str | None
    shared_all: bool
    shared_with: list[str]


def share_bank(
    connection: Connection, bank_id: int, owner_id: int, shared_all: bool,
    member_ids: Iterable[int],
) -> None:
    connection.execute(insert(hub_banks), {"bank_id": bank_id, "owner_id": owner_id,
                                           "shared_all": shared_all})
    rows = [{"bank_id": bank_id, "member_id": m} for m in sorted(set(member_ids))]
    if rows:
        connection.execute(insert(hub_bank_shares), rows)


def visible_bank_ids(connection: Connection, member: MemberRow) -> list[int] | None:
    """Ids of the banks the member may see; None means every bank (admins)."""
    if member.role == "admin":
        return None
    shared = select(hub_bank_shares.c.bank_id).where(hub_bank_shares.c.member_id == member.id)
    query = select(hub_banks.c.bank_id).where(
        or_(hub_banks.c.shared_all.is_(True), hub_banks.c.owner_id == member.id,
            hub_banks.c.bank_id.in_(shared))
    )
    return sorted(connection.execute(query).scalars())


def list_hub_banks(connection: Connection, bank_ids: Sequence[int] | None) -> list[HubBankRow]:
    query = (
        select(banks, hub_banks.c.owner_id, hub_banks.c.shared_all)
        .outerjoin(hub_banks, hub_banks.c.bank_id == banks.c.id)
        .order_by(banks.c.name)
    )
    if bank_ids is not None:
        query = query.where(banks.c.id.in_(list(bank_ids)))
    names = member_names(connection)
    shares: dict[int, list[str]] = defaultdict(list)
    for bank_id, member_id in connection.execute(select(hub_bank_shares)):
        shares[bank_id].append(names[member_id])
    return [
        HubBankRow(
            BankRow(r.id, r.name, r.description, r.created_at, r.updated_at, r.change_seq),
            names.get(r.owner_id) if r.owner_id is not None else None,
            bool(r.shared_all), sorted(shares[r.id]),
        )
        for r in connection.execute(query)
    ]


@dataclass(frozen=True)
class Sharing:
    """Who may see a bank besides admins: its owner, everyone, or the members named."""

    owner_id: int | None
    shared_all: bool
    member_ids: frozenset[int]

    def widened_by(self, other: Sharing) -> bool:
        """Whether `other` lets some member see the bank that this sharing does not."""
        if self.shared_all:
            return False
        return other.shared_all or bool(other.member_ids - self.member_ids - {self.owner_id})


def bank_sharing(connection: Connection, bank_id: int) -> Sharing:
    """A bank without a hub row (created outside the hub) is seen by admins only."""
    row = connection.execute(
        select(hub_banks.c.owner_id, hub_banks.c.shared_all)
        .where(hub_banks.c.bank_id == bank_id)
    ).first()
    members = frozenset(connection.execute(
        select(hub_bank_shares.c.member_id).where(hub_bank_shares.c.bank_id == bank_id)
    ).scalars())
    if row is None:
        return Sharing(None, False, members)
    return Sharing(row.owner_id, bool(row.shared_all), members)


def set_bank_sharing(connection: Connection, bank_id: int, shared_all: bool,
                     member_ids: Iterable[int]) -> None:
    """Replace who a bank is shared with; its owner stays."""
    changed = connection.execute(
        update(hub_banks).where(hub_banks.c.bank_id == bank_id).values(shared_all=shared_all)
    ).rowcount
    if not changed:
        connection.execute(insert(hub_banks), {"bank_id": bank_id, "owner_id": None,
                                               "shared_all": shared_all})
    connection.execute(delete(hub_bank_shares).where(hub_bank_shares.c.bank_id == bank_id))
    rows = [{"bank_id": bank_id, "member_id": m} for m in sorted(set(member_ids))]
    if rows:
        connection.execute(insert(hub_bank_shares), rows)


def touch_bank(writer: Writer, bank_id: int, values: dict[str, Any]) -> None:
    """Give a bank a new change number (and the given column values): the streams take a
    new bank change number as the sign to ask again which banks their member may see."""
    writer.connection.execute(
        update(banks).where(banks.c.id == bank_id)
        .values(**values, updated_at=utcnow(), change_seq=writer.next_seq())
    )


def renumber_bank_entries(writer: Writer, bank_id: int) -> int:
    """Give every entry of a bank a new change number, in their present order, so that the
    feed carries them again (to members that could not see them before). Returns how many."""
    connection = writer.connection
    count = connection.execute(
        select(func.count()).select_from(entries).where(entries.c.bank_id == bank_id)
    ).scalar_one()
    if not count:
        return 0
    base = writer.next_seqs(count).start - 1
    ranked = (
        select(entries.c.id,
               func.row_number().over(order_by=entries.c.change_seq).label("position"))
        .where(entries.c.bank_id == bank_id)
        .subquery("ranked")
    )
    # Every new number is above every number in use (they come from the counter), so the
    # unique index on change_seq never sees two rows with one number mid-statement.
    connection.execute(
        update(entries).where(entries.c.id == ranked.c.id)
        .values(change_seq=ranked.c.position + base)
    )
    return int(count)


def sharing_version(connection: Connection) -> int:
    """The highest change number of a bank: it moves when a bank is created or its sharing
    changes."""
    return int(connection.execute(
        select(func.coalesce(func.max(banks.c.change_seq), 0))
    ).scalar_one())


def bank_owner(connection: Connection, bank_id: int) -> int | None:
    return connection.execute(
        select(hub_banks.c.owner_id).where(hub_banks.c.bank_id == bank_id)
    ).scalar_one_or_none()


# --- entries ---------------------------------------------------------------------------------
HUB_ENTRY_COLUMNS = ("entry_id", "member_id", "incident", "confirms", "false_positives",
                     "label_disputes", "disputed")


def insert_hub_entries(
    connection: Connection, rows: Sequence[tuple[int, int | None, str | None]]
) -> None:
    """(entry id, contributor, incident) of entries just created."""
    bulk_insert(connection, hub_entries, HUB_ENTRY_COLUMNS,
                [(entry_id, member_id, incident, 0, 0, 0, False)
                 for entry_id, member_id, incident in rows])


def entry_ids_by_signal(
    connection: Connection, bank_id: int, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], int]:
    """Entry ids of (signal type, lookup) keys in one bank."""
    # The store's own existence check: one indexed query per signal type and chunk.
    return repo._existing_signals(connection, bank_id, keys)


@dataclass(frozen=True)
class EntryAccess:
    id: int
    bank_id: int
    bank: str
    member_id: int | None
    withdrawn: bool


def entry_access(connection: Connection, entry_id: int) -> EntryAccess | None:
    row = connection.execute(
        select(entries.c.id, entries.c.bank_id, banks.c.name, hub_entries.c.member_id,
               entries.c.withdrawn_at)
        .join(banks, banks.c.id == entries.c.bank_id)
        .outerjoin(hub_entries, hub_entries.c.entry_id == entries.c.id)
        .where(entries.c.id == entry_id)
    ).first()
    if row is None:
        return None
    return EntryAccess(row.id, row.bank_id, row.name, row.member_id, row.withdrawn_at is not None)


def _upsert(connection: Connection, table: Any, values: dict[str, Any], keys: list[str],
            updates: list[str]) -> None:
    dialect_insert = pg_insert if connection.dialect.name == "postgresql" else sqlite_insert
    statement = dialect_insert(table).values(**values)
    statement = statement.on_conflict_do_update(
        index_elements=keys, set_={name: statement.excluded[name] for name in updates}
    )
    connection.execute(statement)


@dataclass(frozen=True)
class FeedbackTotals:
    confirms: int
    false_positives: int
    label_disputes: int
    disputed: bool


def record_feedback(
    writer: Writer, entry_id: int, member_id: int, verdict: str, note: str | None,
    dispute_threshold: int,
) -> FeedbackTotals:
    """Store a member's verdict (replacing its previous one), recompute the entry's totals and
    give the entry a new change number so that followers of the feed see the change."""
    connection = writer.connection
    now = utcnow()
    _upsert(connection, hub_feedback,
            {"entry_id": entry_id, "member_id": member_id, "verdict": verdict, "note": note,
             "updated_at": now},
            ["entry_id", "member_id"], ["verdict", "note", "updated_at"])
    counts = dict(connection.execute(
        select(hub_feedback.c.verdict, func.count())
        .where(hub_feedback.c.entry_id == entry_id)
        .group_by(hub_feedback.c.verdict)
    ).all())
    totals = FeedbackTotals(counts.get("confirm", 0), counts.get("false_positive", 0),
                            counts.get("disagree_label", 0),
                            counts.get("false_positive", 0) >= dispute_threshold)
    values = {"confirms": totals.confirms, "false_positives": totals.false_positives,
              "label_disputes": totals.label_disputes, "disputed": totals.disputed}
    changed = connection.execute(
        update(hub_entries).where(hub_entries.c.entry_id == entry_id).values(**values)
    ).rowcount
    if not changed:  # an entry stored outside the hub (e.g. `cordon bank import`)
        connection.execute(insert(hub_entries),
                           {"entry_id": entry_id, "member_id": None, "incident": None, **values})
    connection.execute(
        update(entries).where(entries.c.id == entry_id)
        .values(updated_at=now, change_seq=writer.next_seq())
    )
    return totals


# --- the change feed -------------------------------------------------------------------------
def committed_seq(connection: Connection) -> int:
    """The last change number of a committed transaction.

    Writers update the counter in the transaction that wrote their changes and take numbers
    under its row lock, so every change numbered up to this value is committed and visible
    to any statement that starts after this one.
    """
    return int(connection.execute(
        select(change_counter.c.value).where(change_counter.c.id == 1)
    ).scalar_one())


@dataclass(slots=True)
class FeedRow:
    id: int
    bank_id: int
    content_type: str | None
    note: str | None
    created_at: datetime
    updated_at: datetime
    withdrawn_at: datetime | None
    change_seq: int
    member_id: int | None
    incident: str | None
    confirms: int
    false_positives: int
    label_disputes: int
    disputed: bool
    signals: list[tuple[str, str, dict[str, Any] | None]]
    labels: list[str]


def _in_banks(connection: Connection, bank_ids: Sequence[int] | None) -> Any:
    if bank_ids is None:
        return None
    if connection.dialect.name == "postgresql":
        return entries.c.bank_id == any_(bindparam("bank_ids", list(bank_ids),
                                                   type_=ARRAY(BigInteger)))
    return entries.c.bank_id.in_(list(bank_ids))


_UTC_NAMES = {"UTC", "Etc/UTC", "Etc/UCT", "UCT", "Etc/Universal", "Universal", "Etc/Zulu",
              "Zulu", "GMT", "Etc/GMT", "Etc/GMT0", "Etc/GMT+0", "Etc/GMT-0", "GMT0"}


def _is_utc(zone: tzinfo) -> bool:
    if isinstance(zone, timezone):
        return zone.utcoffset(None) == timedelta(0)
    return getattr(zone, "key", None) in _UTC_NAMES


def _tuples(connection: Connection, query: Any) -> list[tuple[Any, ...]]:
    """All rows of a query as plain tuples, datetimes aware in UTC.

    On PostgreSQL the statement runs on the driver's cursor: SQLAlchemy's per-row result
    processing (and a type conversion call per datetime) was most of the cost of a
    10,000-entry feed page. psycopg already returns aware datetimes (in the session's time
    zone, converted here only when that is not UTC) and parsed JSON.
    """
    if connection.dialect.name != "postgresql":
        return [tuple(row) for row in connection.execute(query).all()]
    compiled = query.compile(dialect=connection.dialect)
    driver = connection.connection.driver_connection
    with driver.cursor(binary=True) as cursor:  # type: ignore[union-attr]
        cursor.execute(str(compiled), compiled.params)
        rows = cursor.fetchall()
    zone = driver.info.timezone  # type: ignore[union-attr]
    if not rows or _is_utc(zone):
        return rows
    return [tuple(v.astimezone(UTC) if isinstance(v, datetime) else v for v in row)
            for row in rows]


# Ids closer than this count as one run (the ids between, of other entries, are read and
# skipped), and pages of more runs than `_RUNS` go as one array.
_GAP = 8
_RUNS = 64


def _page_ids(ids: list[int]) -> Callable[[Any], Any]:
    """A condition on an entry id column that holds for the given ids (PostgreSQL): rows of
    other entries may match too, and are skipped by the caller.

    The ids of a page come in a few runs of consecutive ids (a contribution's entries are
    numbered together; concurrent ones interleave theirs): one range scan of the column's
    index per run costs PostgreSQL a small part of one index descent per id. Scattered ids
    go as one array parameter: index lookups whatever the plan (a join on the change-number
    range let a generic, prepared, plan hash-join whole tables), sent as one comma-joined
    string (the driver's array dumper cost more than the queries, as in
    `repository._one_of`)."""
    ordered = sorted(ids)
    runs = [[ordered[0], ordered[0]]]
    for value in ordered[1:]:
        if value - runs[-1][1] > _GAP:
            if len(runs) == _RUNS:
                joined = cast(func.string_to_array(
                    bindparam("ids", ",".join(map(str, ids)), type_=String), ","),
                    ARRAY(BigInteger))
                return lambda column: column == any_(joined)
            runs.append([value, value])
        else:
            runs[-1][1] = value
    return lambda column: or_(*(column.between(low, high) for low, high in runs))


def feed_rows(
    connection: Connection, after: int, high: int, limit: int, bank_ids: Sequence[int] | None
) -> list[FeedRow]:
    """Up to `limit` entries of the given banks changed after `after` and at most `high`, in
    change order, with their signals, labels and feedback totals."""
    where = [entries.c.change_seq > after, entries.c.change_seq <= high]
    in_banks = _in_banks(connection, bank_ids)
    columns = (entries.c.id, entries.c.bank_id, entries.c.content_type, entries.c.note,
               entries.c.created_at, entries.c.updated_at, entries.c.withdrawn_at,
               entries.c.change_seq)
    hub_columns = (hub_entries.c.member_id, hub_entries.c.incident, hub_entries.c.confirms,
                   hub_entries.c.false_positives, hub_entries.c.label_disputes,
                   hub_entries.c.disputed)
    postgres = connection.dialect.name == "postgresql"
    if bank_ids is not None and postgres:
        # Each bank's next changes by its own (bank, change number) index, then the first
        # `limit` of them: a plan that stays cheap whatever the statistics say. With
        # `bank_id = ANY(...)` and statistics not yet updated after a bulk load, PostgreSQL
        # read and sorted every entry of the banks (~1 s at 200,000) for a 100-entry page.
        visible = func.unnest(
            bindparam("bank_ids", list(bank_ids), type_=ARRAY(BigInteger))
        ).table_valued("id").render_derived(name="visible")
        picked = (
            select(*columns)
            .where(entries.c.bank_id == visible.c.id, *where)
            .order_by(entries.c.change_seq)
            .limit(limit)
            .lateral("picked")
        )
        query = (
            select(*(picked.c[c.name] for c in columns))
            .select_from(visible)
            .join(picked, true())
            .order_by(picked.c.change_seq)
            .limit(limit)
        )
    elif postgres:
        if in_banks is not None:
            where.append(in_banks)
        query = select(*columns).where(*where).order_by(entries.c.change_seq).limit(limit)
    else:
        if in_banks is not None:
            where.append(in_banks)
        query = (
            select(*columns, *hub_columns)
            .outerjoin(hub_entries, hub_entries.c.entry_id == entries.c.id)
            .where(*where)
            .order_by(entries.c.change_seq)
            .limit(limit)
        )
    if postgres:
        # Before the statistics catch up with a bulk load, PostgreSQL expects a handful of
        # rows and reads every change of the banks after the cursor (~110 ms at 200,000)
        # through a bitmap to sort them, where walking the (bank, change number) index
        # stops at the page's end (~5 ms).
        connection.exec_driver_sql("SET LOCAL enable_bitmapscan = off")
        found = _tuples(connection, query)
        connection.exec_driver_sql("RESET enable_bitmapscan")
    else:
        found = _tuples(connection, query)
    if not found:
        return []
    if postgres:
        # The hub's columns (contributor, incident, feedback totals) by the page's ids, like
        # the signals and labels below, rather than joined: a range scan of the hub entries'
        # key costs PostgreSQL half of an index descent per entry.
        page_ids = _page_ids([r[0] for r in found])
        hub_rows = {r[0]: r[1:] for r in _tuples(connection, select(
            hub_entries.c.entry_id, *hub_columns).where(page_ids(hub_entries.c.entry_id)))}
        # Its columns are not null: no conversion per row.
        no_hub_row = (None, None, 0, 0, 0, False)
        rows = [FeedRow(*r, *hub_rows.get(r[0], no_hub_row), [], []) for r in found]
    else:
        rows = [
            FeedRow(*r[:10], r[10] or 0, r[11] or 0, r[12] or 0, bool(r[13]), [], [])
            for r in found
        ]
    by_id = {row.id: row for row in rows}
    signal_query = select(entry_signals.c.entry_id, entry_signals.c.signal_type,
                          entry_signals.c.value, entry_signals.c.detail)
    label_query = select(entry_labels.c.entry_id, entry_labels.c.label)
    if postgres:
        signal_query = signal_query.where(page_ids(entry_signals.c.entry_id))
        label_query = label_query.where(page_ids(entry_labels.c.entry_id))
    else:
        # SQLite: the same change-number range, a range scan rather than thousands of id
        # parameters.
        page = [entries.c.change_seq > after, entries.c.change_seq <= rows[-1].change_seq]
        if in_banks is not None:
            page.append(in_banks)
        signal_query = signal_query.join(
            entries, entries.c.id == entry_signals.c.entry_id).where(*page)
        label_query = label_query.join(
            entries, entries.c.id == entry_labels.c.entry_id).where(*page)
    for entry_id, *signal in _tuples(connection, signal_query):
        owner = by_id.get(entry_id)
        if owner is not None:
            owner.signals.append(tuple(signal))
    for entry_id, label in _tuples(connection, label_query):
        owner = by_id.get(entry_id)
        if owner is not None:
            owner.labels.append(label)
    for row in rows:
        # Most entries hold one label and one signal of each type: no sort to call.
        if len(row.signals) > 1:
            row.signals.sort()
        if len(row.labels) > 1:
            row.labels.sort()
    return rows


def bank_names(connection: Connection) -> dict[int, str]:
    return dict(connection.execute(select(banks.c.id, banks.c.name)).all())


# --- audit -----------------------------------------------------------------------------------
def insert_audit(
    connection: Connection, *, member: MemberRow | None, action: str, object: str | None,
    client: str | None, detail: dict[str, Any] | None = None,
) -> None:
    connection.execute(insert(hub_audit), {
        "at": utcnow(), "member_id": member.id if member else None,
        "member": member.name if member else None, "action": action, "object": object,
        "client": client, "detail": detail,
    })


@dataclass(frozen=True)
class AuditRow:
    id: int
    at: datetime
    member: str | None
    action: str
    object: str | None
    client: str | None
    detail: dict[str, Any] | None


def list_audit(
    connection: Connection, *, before: int | None, limit: int, member: str | None,
    action: str | None, object_prefix: str | None, since: datetime | None,
    until: datetime | None,
) -> list[AuditRow]:
    """Newest first; `before` is the id of the last record of the previous page."""
    query = select(hub_audit).order_by(hub_audit.c.id.desc()).limit(limit)
    if before is not None:
        query = query.where(hub_audit.c.id < before)
    if member is not None:
        query = query.where(hub_audit.c.member == member)
    if action is not None:
        query = query.where(hub_audit.c.action == action)
    if object_prefix is not None:
        # Plain prefix comparison: no LIKE, so '%' and '_' in the filter mean themselves.
        query = query.where(func.substr(hub_audit.c.object, 1, len(object_prefix))
                            == object_prefix)
    if since is not None:
        query = query.where(hub_audit.c.at >= since)
    if until is not None:
        query = query.where(hub_audit.c.at < until)
    return [AuditRow(r.id, r.at, r.member, r.action, r.object, r.client, r.detail)
            for r in connection.execute(query)]


# --- statistics ------------------------------------------------------------------------------
def _month(connection: Connection, column: Any) -> Any:
    if connection.dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", column), literal_column("'YYYY-MM'"))
    return func.strftime("%Y-%m", column)


def statistics(connection: Connection, bank_ids: Sequence[int] | None) -> dict[str, Any]:
    """Counts over the given banks (every bank when None)."""
    scope = [] if bank_ids is None else [entries.c.bank_id.in_(list(bank_ids))]
    live = and_(entries.c.withdrawn_at.is_(None), *scope)
    names = member_names(connection)

    def grouped(query: Any) -> dict[str, int]:
        return {str(key): int(n) for key, n in connection.execute(query) if key is not None}

    total = connection.execute(select(func.count()).select_from(entries).where(*scope)).scalar()
    withdrawn = connection.execute(
        select(func.count()).select_from(entries)
        .where(entries.c.withdrawn_at.is_not(None), *scope)
    ).scalar()
    by_signal = grouped(
        select(entry_signals.c.signal_type, func.count())
        .join(entries, entries.c.id == entry_signals.c.entry_id).where(live)
        .group_by(entry_signals.c.signal_type)
    )
    by_label = grouped(
        select(entry_labels.c.label, func.count())
        .join(entries, entries.c.id == entry_labels.c.entry_id).where(live)
        .group_by(entry_labels.c.label)
    )
    by_member_id = connection.execute(
        select(hub_entries.c.member_id, func.count())
        .join(entries, entries.c.id == hub_entries.c.entry_id).where(*scope)
        .group_by(hub_entries.c.member_id)
    ).all()
    by_contributor = {names[m]: int(n) for m, n in by_member_id if m is not None and m in names}
    by_incident = grouped(
        select(hub_entries.c.incident, func.count())
        .join(entries, entries.c.id == hub_entries.c.entry_id).where(*scope)
        .group_by(hub_entries.c.incident)
    )
    feedback = grouped(
        select(hub_feedback.c.verdict, func.count())
        .join(entries, entries.c.id == hub_feedback.c.entry_id).where(*scope)
        .group_by(hub_feedback.c.verdict)
    )
    disputed = connection.execute(
        select(func.count()).select_from(hub_entries)
        .join(entries, entries.c.id == hub_entries.c.entry_id)
        .where(hub_entries.c.disputed.is_(True), *scope)
    ).scalar()
    months: dict[str, dict[str, int]] = defaultdict(
        lambda: {"contributed": 0, "withdrawn": 0, "feedback": 0}
    )
    for key, column, table_where in (
        ("contributed", entries.c.created_at, scope),
        ("withdrawn", entries.c.withdrawn_at, [entries.c.withdrawn_at.is_not(None), *scope]),
    ):
        month = _month(connection, column)
        for value, n in connection.execute(
            select(month, func.count()).select_from(entries).where(*table_where).group_by(month)
        ):
            months[value][key] = int(n)
    month = _month(connection, hub_feedback.c.updated_at)
    for value, n in connection.execute(
        select(month, func.count()).join(entries, entries.c.id == hub_feedback.c.entry_id)
        .where(*scope).group_by(month)
    ):
        months[value]["feedback"] = int(n)
    return {
        "entries": int(total or 0), "live": int((total or 0) - (withdrawn or 0)),
        "withdrawn": int(withdrawn or 0), "disputed": int(disputed or 0),
        "by_signal_type": dict(sorted(by_signal.items())),
        "by_label": dict(sorted(by_label.items())),
        "by_contributor": dict(sorted(by_contributor.items())),
        "by_incident": dict(sorted(by_incident.items())),
        "feedback": {verdict: feedback.get(verdict, 0) for verdict in VERDICTS},
        "by_month": {m: months[m] for m in sorted(months)},
    }
