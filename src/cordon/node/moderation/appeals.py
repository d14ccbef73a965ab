"""Appeals (DSA art. 20, TCO art. 10): the affected user reads the statement of reasons with
the notice code they were given and may appeal within the window (six months); the appeal
goes to the queue with a 14-day clock, for a reviewer other than the one who decided."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from cordon.node.moderation import queue, statements
from cordon.node.moderation.context import Conflict, Context, NotFound, iso
from cordon.node.moderation.decisions import notice_digest
from cordon.node.service import NodeError
from cordon.store.moderation_models import (
    mod_appeals,
    mod_cases,
    mod_decisions,
    mod_preservations,
    mod_statements,
)

APPEAL_MARGIN_DAYS = 30


class AppealIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    explanation: str = Field(min_length=1, max_length=5000)


class WindowClosed(NodeError):
    status = 409


def _statement(conn: Any, code: str) -> Any:
    row = conn.execute(select(mod_statements).where(
        mod_statements.c.notice_digest == notice_digest(code))).first()
    if row is None:
        raise NotFound("no statement of reasons with this notice code")
    return row


def _appeal_json(row: Any) -> dict[str, Any]:
    return {"id": row.id, "statement": row.statement_id, "case": row.case_id,
            "filed_at": iso(row.filed_at), "deadline_at": iso(row.deadline_at),
            "status": row.status, "decided_at": iso(row.decided_at)}


def notice(ctx: Context, code: str) -> dict[str, Any]:
    """What the affected user sees: the statement and their appeals."""
    with ctx.store.read() as conn:
        row = _statement(conn, code)
        appeals = conn.execute(select(mod_appeals).where(
            mod_appeals.c.statement_id == row.id).order_by(mod_appeals.c.id)).all()
    return {"statement": statements.public(row), "appeals": [_appeal_json(a) for a in appeals],
            "can_appeal": ctx.now() <= row.appeal_until
            and not any(a.status == "open" for a in appeals)}


def file_appeal(ctx: Context, code: str, body: AppealIn) -> dict[str, Any]:
    now = ctx.now()
    with ctx.store.read() as conn:
        statement = _statement(conn, code)
        reviewer = conn.execute(select(mod_decisions.c.reviewer).where(
            mod_decisions.c.id == statement.decision_id)).scalar_one()
    if now > statement.appeal_until:
        raise WindowClosed(f"the appeal window closed on {statement.appeal_until.isoformat()}")
    values = queue.case_values(ctx, "appeal", now, labels=statement.body.get("labels", []),
                               subject=statement.body.get("content"),
                               account=statement.account, excluded_reviewer=reviewer,
                               # One open appeal per statement, even when two arrive at once.
                               content_key=f"appeal:{statement.id}")
    try:
        with ctx.node.plain_write() as conn:
            case_id = queue.open_case(conn, values)
            appeal_id = conn.execute(insert(mod_appeals).values(
                statement_id=statement.id, case_id=case_id, filed_at=now,
                deadline_at=values["deadline_at"], explanation=body.explanation,
                status="open").returning(mod_appeals.c.id)).scalar_one()
            conn.execute(update(mod_cases).where(mod_cases.c.id == case_id)
                         .values(appeal_id=appeal_id))
            # The content and its record stay while the appeal is open, and a while after
            # its answer is due, even when the appeal comes at the end of the window.
            keep = values["deadline_at"] + timedelta(days=APPEAL_MARGIN_DAYS)
            conn.execute(update(mod_preservations).where(
                mod_preservations.c.decision_id == statement.decision_id,
                mod_preservations.c.state == "kept",
                mod_preservations.c.keep_until < keep).values(keep_until=keep))
    except IntegrityError:
        raise Conflict("an appeal of this decision is already open") from None
    with ctx.store.read() as conn:
        row = conn.execute(select(mod_appeals).where(mod_appeals.c.id == appeal_id)).one()
    return _appeal_json(row)


def listing(ctx: Context, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    query = select(mod_appeals).order_by(mod_appeals.c.id.desc()).limit(limit)
    if status is not None:
        query = query.where(mod_appeals.c.status == status)
    with ctx.store.read() as conn:
        return [_appeal_json(r) for r in conn.execute(query)]
