"""Preservation (TCO art. 6): removed content and its related data (the case, the decision,
the order, the signals) kept encrypted at rest for six months, longer when an authority asks,
then purged automatically. The purge goes one item at a time and marks each before and after
deleting its file, so a purge stopped half-way is completed by the next run."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, insert, or_, select, update

from cordon.node.moderation import clock
from cordon.node.moderation.context import Context, NotFound, iso
from cordon.store.moderation_models import mod_cases, mod_preservations, mod_purges


def preserve(ctx: Context, conn: Connection, case: Any, decision_id: int, record: dict[str, Any],
             keep_until: datetime) -> int:
    return conn.execute(insert(mod_preservations).values(  # type: ignore[no-any-return]
        case_id=case.id, decision_id=decision_id, created_at=ctx.now(), keep_until=keep_until,
        record=ctx.vault.encrypt(orjson.dumps(record, default=str)), evidence=case.evidence,
        state="kept").returning(mod_preservations.c.id)).scalar_one()


def keep_until(ctx: Context, decided_at: datetime, restricted: bool) -> datetime:
    if restricted:
        return clock.add_calendar(decided_at, clock.zone(ctx.settings.timezone),
                                  months=ctx.settings.preserve_months)
    return clock.add_calendar(decided_at, clock.zone(ctx.settings.timezone),
                              days=ctx.settings.no_action_days)


def _json(row: Any) -> dict[str, Any]:
    return {"id": row.id, "case": row.case_id, "decision": row.decision_id,
            "created_at": iso(row.created_at), "keep_until": iso(row.keep_until),
            "state": row.state, "has_content": row.evidence is not None
            and row.state == "kept", "purged_at": iso(row.purged_at)}


def listing(ctx: Context, case_id: int | None = None) -> list[dict[str, Any]]:
    query = select(mod_preservations).order_by(mod_preservations.c.id)
    if case_id is not None:
        query = query.where(mod_preservations.c.case_id == case_id)
    with ctx.store.read() as conn:
        return [_json(r) for r in conn.execute(query)]


def record(ctx: Context, preservation_id: int) -> dict[str, Any]:
    """The preserved record, decrypted (for an authority's request)."""
    with ctx.store.read() as conn:
        row = conn.execute(select(mod_preservations).where(
            mod_preservations.c.id == preservation_id)).first()
    if row is None:
        raise NotFound(f"no preservation with id {preservation_id}")
    out = _json(row)
    out["record"] = orjson.loads(ctx.vault.decrypt(row.record)) if row.record else None
    return out


def extend(ctx: Context, preservation_id: int, until: datetime) -> dict[str, Any]:
    """Keep longer (an authority's request); never shortens."""
    with ctx.node.plain_write() as conn:
        row = conn.execute(select(mod_preservations).where(
            mod_preservations.c.id == preservation_id)).first()
        if row is None or row.state != "kept":
            raise NotFound(f"no preserved item with id {preservation_id}")
        conn.execute(update(mod_preservations).where(
            mod_preservations.c.id == preservation_id).values(
            keep_until=max(row.keep_until, until)))
    return record_meta(ctx, preservation_id)


def record_meta(ctx: Context, preservation_id: int) -> dict[str, Any]:
    with ctx.store.read() as conn:
        row = conn.execute(select(mod_preservations).where(
            mod_preservations.c.id == preservation_id)).first()
    if row is None:
        raise NotFound(f"no preservation with id {preservation_id}")
    return _json(row)


def purge(ctx: Context, after_each: Callable[[int], None] | None = None,
          progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Purge every item whose time has come, and any a previous run left half-done."""
    now = ctx.now()
    with ctx.store.read() as conn:
        due = conn.execute(select(mod_preservations.c.id, mod_preservations.c.evidence,
                                  mod_preservations.c.case_id).where(or_(
            mod_preservations.c.state == "purging",
            (mod_preservations.c.state == "kept") & (mod_preservations.c.keep_until <= now)))
            .order_by(mod_preservations.c.id)).all()
    done: list[int] = []
    for index, item in enumerate(due):
        with ctx.node.plain_write() as conn:
            conn.execute(update(mod_preservations).where(mod_preservations.c.id == item.id)
                         .values(state="purging"))
        if item.evidence:
            ctx.vault.delete(item.evidence)
        with ctx.node.plain_write() as conn:
            conn.execute(update(mod_preservations).where(mod_preservations.c.id == item.id)
                         .values(state="purged", record=None, purged_at=ctx.now()))
            conn.execute(update(mod_cases).where(mod_cases.c.id == item.case_id,
                                                 mod_cases.c.evidence == item.evidence)
                         .values(evidence=None))
        done.append(item.id)
        if progress is not None:
            progress(index + 1, len(due))
        if after_each is not None:
            after_each(item.id)
    if done:
        with ctx.node.plain_write() as conn:
            conn.execute(insert(mod_purges).values(at=ctx.now(), purged=done))
    return {"purged": len(done), "ids": done, "at": iso(now)}


def purges(ctx: Context, limit: int = 100) -> list[dict[str, Any]]:
    with ctx.store.read() as conn:
        rows = conn.execute(select(mod_purges).order_by(mod_purges.c.id.desc())
                            .limit(limit)).all()
    return [{"id": r.id, "at": iso(r.at), "purged": r.purged} for r in rows]
