"""The review queue: opening cases (merging duplicates of open ones), taking in the matches
that rules send to review, and listing open cases in order: removal orders, imminent threats,
then by priority and deadline."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Connection, and_, delete, insert, or_, select, text, update
from sqlalchemy.exc import IntegrityError

from cordon.node import mirror
from cordon.node.moderation import clock, priority
from cordon.node.moderation.context import Context, NotFound, iso
from cordon.node.service import NodeError
from cordon.store.models import node_matches
from cordon.store.moderation_models import (
    mod_appeals,
    mod_cases,
    mod_decisions,
    mod_match_contents,
    mod_orders,
    mod_reports,
)

KINDS = ("report", "match", "order", "appeal")
REVIEW_CURSOR = "moderation.review_cursor"
_REVIEW_LOCK = 0x636F72646F6D  # any constant, the same in every node process
REVIEW_HORIZON_SECONDS = 10.0
# Matches read per page in the light pass, and read in full per query in the write pass.
_SYNC_PAGE = 5000
_REVIEW_BATCH = 500


def case_values(ctx: Context, kind: str, opened_at: datetime, *,
                labels: Sequence[str] = (), matches: Sequence[Mapping[str, Any]] = (),
                trusted: bool = False, reports: int = 0, **fields: Any) -> dict[str, Any]:
    """The row of a new open case."""
    placed = priority.place(kind, opened_at, ctx.settings, labels=labels, matches=matches,
                            trusted=trusted, reports=reports)
    key = fields.get("content_key")
    return {"kind": kind, "status": "open", "opened_at": opened_at,
            "deadline_at": placed.deadline_at, "tier": placed.tier,
            "priority": placed.priority, "open_key": key, "labels": list(labels),
            "matches": list(matches), "report_count": reports, **fields}


def open_case(conn: Connection, values: Mapping[str, Any]) -> int:
    return conn.execute(insert(mod_cases).values(**values)  # type: ignore[no-any-return]
                        .returning(mod_cases.c.id)).scalar_one()


def open_or_merge(ctx: Context, values: dict[str, Any], trusted: bool,
                  write: Any) -> tuple[int, bool]:
    """(case id, merged): a report of content already open in the queue joins that case,
    which counts it and moves up; `write(conn, case_id)` runs in the same transaction."""
    key = values.get("open_key")
    for _attempt in range(3):
        try:
            with ctx.node.plain_write() as conn:
                row = None
                if key is not None:
                    row = conn.execute(select(mod_cases).where(
                        mod_cases.c.open_key == key)).first()
                if row is None:
                    case_id = open_case(conn, values)
                    write(conn, case_id)
                    return case_id, False
                reports = row.report_count + 1
                labels = list(dict.fromkeys([*(row.labels or []), *values["labels"]]))
                was_trusted = conn.execute(select(mod_reports.c.id).where(
                    mod_reports.c.case_id == row.id, mod_reports.c.trusted).limit(1)).first()
                raised = row.priority
                if reports - 1 <= priority.DUPLICATES_COUNTED:
                    raised += priority.PER_DUPLICATE
                if trusted and was_trusted is None:
                    raised += priority.TRUSTED_FLAGGER
                placed = priority.place(row.kind, row.opened_at, ctx.settings, labels=labels,
                                        matches=row.matches or [])
                conn.execute(update(mod_cases).where(mod_cases.c.id == row.id).values(
                    report_count=reports, labels=labels, tier=min(row.tier, placed.tier),
                    priority=raised, deadline_at=min(row.deadline_at, placed.deadline_at),
                    evidence=row.evidence or values.get("evidence")))
                write(conn, row.id)
                return row.id, True
        except IntegrityError:
            continue  # another report of the same content opened the case first: merge
    raise NodeError("the queue is busy with reports of the same content; try again", 503)


def review_lock(conn: Connection) -> None:
    """Node processes sharing one database take turns taking matches in (SQLite's write lock
    does this by itself)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _REVIEW_LOCK})


def _take_copies(conn: Connection, match_ids: list[int]) -> dict[int, Any]:
    """The uploads kept for these matches (`match_content`), handed over to their cases."""
    if not match_ids:
        return {}
    rows = {row.match_id: row for row in conn.execute(select(mod_match_contents).where(
        mod_match_contents.c.match_id.in_(match_ids)))}
    if rows:
        conn.execute(delete(mod_match_contents).where(
            mod_match_contents.c.match_id.in_(list(rows))))
    return rows


def sync_review_matches(ctx: Context) -> int:
    """Open a case for every recorded match that a rule sent to review. The match log is the
    source of truth; each case names its match (`content_key` "match:ID"), so none is queued
    twice whichever process records or syncs. The stored cursor only moves over matches older
    than `REVIEW_HORIZON_SECONDS`: on PostgreSQL a match id can become visible after a larger
    one (ids are taken before commit), and the matches of the last seconds are read again
    until no earlier one can still appear.

    Every process runs this each second, so the matches past the cursor are first read in a
    light form (id, time, actions) without the write lock; the write transaction reads in full
    only the matches sent to review. Under a steady stream of matches that no rule sends to
    review (200 a second in the node benchmark), a turn only moves the cursor, instead of
    decoding every match of the last 10 seconds while holding the lock that the match log's
    writers wait for."""
    with ctx.store.read() as conn:
        start = int(mirror.read_state(conn, REVIEW_CURSOR) or 0)
        light: list[Any] = []
        after = start
        while True:
            page = conn.execute(
                select(node_matches.c.id, node_matches.c.at, node_matches.c.actions)
                .where(node_matches.c.id > after).order_by(node_matches.c.id)
                .limit(_SYNC_PAGE)).all()
            light.extend(page)
            if len(page) < _SYNC_PAGE:
                break
            after = page[-1].id
    if not light:  # most calls: nothing new, no write lock taken
        return 0
    horizon = ctx.now() - timedelta(seconds=REVIEW_HORIZON_SECONDS)
    settled = start
    for row in light:
        if row.at >= horizon:
            break
        settled = row.id
    review_ids = [row.id for row in light if "review" in (row.actions or [])]
    if not review_ids and settled == start:
        return 0
    opened = 0
    with ctx.node.plain_write() as conn:
        review_lock(conn)
        cursor = int(mirror.read_state(conn, REVIEW_CURSOR) or 0)
        # Another process may have moved the cursor meanwhile: what it passed is queued.
        review_ids = [i for i in review_ids if i > cursor]
        for begin in range(0, len(review_ids), _REVIEW_BATCH):
            opened += _open_match_cases(ctx, conn, review_ids[begin:begin + _REVIEW_BATCH])
        if settled > cursor:
            mirror.write_state(conn, REVIEW_CURSOR, str(settled))
    return opened


def _open_match_cases(ctx: Context, conn: Connection, match_ids: list[int]) -> int:
    """Cases for these matches (sent to review by a rule) that are not queued yet."""
    rows = conn.execute(select(node_matches).where(node_matches.c.id.in_(match_ids))
                        .order_by(node_matches.c.id)).all()
    wanted = {f"match:{r.id}": r for r in rows}
    queued = {key for (key,) in conn.execute(select(mod_cases.c.content_key).where(
        mod_cases.c.content_key.in_(list(wanted))))} if wanted else set()
    fresh = {key: row for key, row in wanted.items() if key not in queued}
    described = ctx.node._entries_info({r.entry_id for r in fresh.values()})
    copies = _take_copies(conn, [r.id for r in fresh.values()])
    for key, row in fresh.items():
        info = described.get(row.entry_id, {})
        evidence = {"match": row.id, "signal_type": row.signal_type,
                    "distance": row.distance, "bank": row.bank,
                    "entry": row.hub_entry_id or row.entry_id,
                    "origin": "hub" if row.hub_entry_id is not None else "private",
                    "labels": info.get("labels", []),
                    "incident": info.get("incident"), "rules": row.rules or []}
        copy = copies.get(row.id)
        # Every upload a rule sends to review is kept: no copy means signals only.
        evidence["content_kept"] = copy is not None
        signals = orjson.loads(row.query) if row.query else None
        open_case(conn, {**case_values(
            ctx, "match", row.at, labels=evidence["labels"], matches=[evidence],
            subject=row.source, signals=signals, content_key=key,
            evidence=copy.evidence if copy else None,
            content_type=copy.content_type if copy else None), "open_key": None})
    return len(fresh)


def _item(row: Any, now: datetime, tz_name: str | None) -> dict[str, Any]:
    item = {"id": row.id, "kind": row.kind, "status": row.status, "tier": row.tier,
            "priority": row.priority, "opened_at": iso(row.opened_at),
            "deadline_at": iso(row.deadline_at),
            "seconds_left": round(clock.remaining(row.deadline_at, now), 1),
            "overdue": row.deadline_at < now, "subject": row.subject,
            "labels": row.labels or [], "reports": row.report_count,
            "matched": bool(row.matches), "has_content": row.evidence is not None,
            "order": row.order_id, "appeal": row.appeal_id,
            "decided_at": iso(row.decided_at)}
    if tz_name:
        item["deadline_local"] = row.deadline_at.astimezone(clock.zone(tz_name)).isoformat()
    return item


def queue(ctx: Context, reviewer: str, *, limit: int = 50, kind: str | None = None,
          tz_name: str | None = None, after: tuple[int, int, datetime, int] | None = None
          ) -> list[dict[str, Any]]:
    """Open cases in order. A reviewer does not see the appeals of their own decisions."""
    sync_review_matches(ctx)
    if tz_name:
        clock.zone(tz_name)
    query = select(mod_cases).where(mod_cases.c.status == "open")
    query = query.where(or_(mod_cases.c.excluded_reviewer.is_(None),
                            mod_cases.c.excluded_reviewer != reviewer))
    if kind is not None:
        query = query.where(mod_cases.c.kind == kind)
    if after is not None:
        tier, prio, deadline, case_id = after
        query = query.where(or_(
            mod_cases.c.tier > tier,
            and_(mod_cases.c.tier == tier, mod_cases.c.priority < prio),
            and_(mod_cases.c.tier == tier, mod_cases.c.priority == prio,
                 mod_cases.c.deadline_at > deadline),
            and_(mod_cases.c.tier == tier, mod_cases.c.priority == prio,
                 mod_cases.c.deadline_at == deadline, mod_cases.c.id > case_id)))
    query = query.order_by(mod_cases.c.tier, mod_cases.c.priority.desc(),
                           mod_cases.c.deadline_at, mod_cases.c.id).limit(limit)
    now = ctx.now()
    with ctx.store.read() as conn:
        rows = conn.execute(query).all()
    return [_item(row, now, tz_name) for row in rows]


def case_row(conn: Connection, case_id: int) -> Any:
    row = conn.execute(select(mod_cases).where(mod_cases.c.id == case_id)).first()
    if row is None:
        raise NotFound(f"no case with id {case_id}")
    return row


def case_detail(ctx: Context, case_id: int, tz_name: str | None = None) -> dict[str, Any]:
    """A case with its evidence: the match records (signal, distance, bank entry, labels,
    incident, aligned video segments), the reports, the order or appeal, the decisions."""
    with ctx.store.read() as conn:
        row = case_row(conn, case_id)
        reports = conn.execute(select(mod_reports).where(mod_reports.c.case_id == case_id)
                               .order_by(mod_reports.c.id)).all()
        decisions = conn.execute(select(mod_decisions).where(
            mod_decisions.c.case_id == case_id).order_by(mod_decisions.c.id)).all()
        order = (conn.execute(select(mod_orders).where(mod_orders.c.id == row.order_id)).first()
                 if row.order_id else None)
        appeal = (conn.execute(select(mod_appeals).where(mod_appeals.c.id == row.appeal_id))
                  .first() if row.appeal_id else None)
    detail = _item(row, ctx.now(), tz_name)
    detail.update({
        "account": row.account, "content_type": row.content_type, "signals": row.signals,
        "matches": row.matches or [], "excluded_reviewer": row.excluded_reviewer,
        "matched_by_signals": row.kind == "match" and row.evidence is None and not any(
            m.get("content_kept", True) for m in row.matches or []),
        "reports_filed": [{"tracking_id": r.tracking_id, "received_at": iso(r.received_at),
                           "reason": r.reason, "explanation": r.explanation,
                           "reporter_name": r.reporter_name, "trusted": r.trusted,
                           "urls": r.urls or [], "upload_name": r.upload_name,
                           "fetch_errors": r.fetch_errors or []} for r in reports],
        "decisions": [{"id": d.id, "reviewer": d.reviewer, "action": d.action,
                       "labels": d.labels, "note": d.note, "decided_at": iso(d.decided_at),
                       "hub": d.hub} for d in decisions],
        "order_record": None if order is None else {
            "id": order.id, "authority": order.authority, "reference": order.reference,
            "urls": order.urls, "received_at": iso(order.received_at),
            "deadline_at": iso(order.deadline_at), "executed_at": iso(order.executed_at)},
        "appeal_record": None if appeal is None else {
            "id": appeal.id, "statement": appeal.statement_id, "filed_at": iso(appeal.filed_at),
            "explanation": appeal.explanation, "status": appeal.status},
    })
    return detail
