"""Removal orders (TCO art. 3): an authority names content to remove within one hour. The
order is registered with the time it was received, goes to the top of the queue with its
countdown, and its execution time is recorded by the decision that removes the content."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import insert, select, update

from cordon.node.moderation import clock, queue, reports
from cordon.node.moderation.context import Context, NotFound, iso
from cordon.store.moderation_models import mod_orders


class OrderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    authority: str = Field(min_length=1, max_length=300)
    reference: str = Field(min_length=1, max_length=300)
    urls: list[str] = Field(min_length=1, max_length=100)
    # When the order reached the platform (its hour runs from then); default: now.
    received_at: datetime | None = None
    # An authority's request to keep the content longer than six months.
    preserve_until: datetime | None = None
    account: str | None = Field(default=None, max_length=200)

    @field_validator("received_at", "preserve_until")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("give a time zone (e.g. 2026-03-29T01:30:00+01:00 or ...Z)")
        return value.astimezone(UTC) if value is not None else None

    @field_validator("urls")
    @classmethod
    def _urls(cls, value: list[str]) -> list[str]:
        if any(not u.strip() or len(u) > 2000 for u in value):
            raise ValueError("each URL is 1 to 2000 characters")
        return [u.strip() for u in value]


def _json(row: Any, now: datetime) -> dict[str, Any]:
    executed = row.executed_at
    return {"id": row.id, "authority": row.authority, "reference": row.reference,
            "urls": row.urls, "received_at": iso(row.received_at),
            "deadline_at": iso(row.deadline_at), "case": row.case_id,
            "executed_at": iso(executed),
            "execution_seconds": None if executed is None
            else (executed - row.received_at).total_seconds(),
            "seconds_left": None if executed is not None
            else round(clock.remaining(row.deadline_at, now), 1),
            "preserve_until": iso(row.preserve_until), "registered_by": row.registered_by}


def register(ctx: Context, body: OrderIn, by: str) -> dict[str, Any]:
    now = ctx.now()
    received = body.received_at or now
    # The node fetches what it can reach of the named content: its signals are preserved
    # with the order and its matches shown to the reviewer (the hour runs regardless).
    taken = reports.take_content(ctx, None, None, body.urls, dedupe=False)
    values = queue.case_values(ctx, "order", received, subject=" ".join(body.urls)[:2000],
                               account=body.account, content_key=None, matches=taken.matches,
                               labels=[], signals=taken.signals or None,
                               content_type=taken.content_type, evidence=taken.evidence)
    with ctx.node.plain_write() as conn:
        order_id = conn.execute(insert(mod_orders).values(
            authority=body.authority, reference=body.reference, urls=body.urls,
            received_at=received, deadline_at=values["deadline_at"], registered_by=by,
            preserve_until=body.preserve_until).returning(mod_orders.c.id)).scalar_one()
        case_id = queue.open_case(conn, {**values, "order_id": order_id})
        conn.execute(update(mod_orders).where(mod_orders.c.id == order_id)
                     .values(case_id=case_id))
    return get(ctx, order_id)


def get(ctx: Context, order_id: int) -> dict[str, Any]:
    with ctx.store.read() as conn:
        row = conn.execute(select(mod_orders).where(mod_orders.c.id == order_id)).first()
    if row is None:
        raise NotFound(f"no order with id {order_id}")
    return _json(row, ctx.now())


def listing(ctx: Context, limit: int = 100) -> list[dict[str, Any]]:
    with ctx.store.read() as conn:
        rows = conn.execute(select(mod_orders).order_by(mod_orders.c.id.desc())
                            .limit(limit)).all()
    now = ctx.now()
    return [_json(r, now) for r in rows]


