"""The strike ledger (Christchurch Call live-stream controls): a confirmed violation of an
account is a strike; a strike for terrorist or violent-extremist content suspends the
account's live streaming for a configurable period, which the platform checks before a stream
starts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, insert, select, update

from cordon.node.moderation.context import Context, iso
from cordon.store.moderation_models import mod_strikes

# Labels that make a strike suspend live streaming: any behaviour of the taxonomy.
SUSPENDING_PREFIX = "behaviour:"


def add(ctx: Context, conn: Connection, account: str, decision_id: int, labels: Sequence[str],
        at: datetime) -> int:
    suspends = any(label.startswith(SUSPENDING_PREFIX) for label in labels)
    until = at + timedelta(days=ctx.settings.live_suspension_days) if suspends else None
    return conn.execute(insert(mod_strikes).values(  # type: ignore[no-any-return]
        account=account, at=at, decision_id=decision_id, labels=list(labels),
        live_suspended_until=until).returning(mod_strikes.c.id)).scalar_one()


def revoke_for(conn: Connection, decision_id: int, at: datetime) -> int:
    return conn.execute(update(mod_strikes).where(  # type: ignore[no-any-return]
        mod_strikes.c.decision_id == decision_id, mod_strikes.c.revoked_at.is_(None))
        .values(revoked_at=at)).rowcount


def ledger(ctx: Context, account: str) -> list[dict[str, Any]]:
    with ctx.store.read() as conn:
        rows = conn.execute(select(mod_strikes).where(mod_strikes.c.account == account)
                            .order_by(mod_strikes.c.id)).all()
    return [{"id": r.id, "at": iso(r.at), "decision": r.decision_id, "labels": r.labels,
             "live_suspended_until": iso(r.live_suspended_until),
             "revoked_at": iso(r.revoked_at)} for r in rows]


def live_eligibility(ctx: Context, account: str) -> dict[str, Any]:
    now = ctx.now()
    strikes = ledger(ctx, account)
    live = [s for s in strikes if s["revoked_at"] is None]
    until = max((datetime.fromisoformat(s["live_suspended_until"]) for s in live
                 if s["live_suspended_until"]), default=None)
    eligible = until is None or until <= now
    return {"account": account, "eligible": eligible,
            "suspended_until": None if eligible else iso(until),
            "strikes": len(live), "checked_at": iso(now)}
