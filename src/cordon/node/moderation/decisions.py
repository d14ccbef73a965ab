"""Reviewers' decisions: remove, restrict, no action or escalate a case (uphold or reverse an
appeal), with labels and a note. A restriction produces a statement of reasons, preserves the
content and its record, may strike the account, executes a removal order; a decision may
send confirm / false-positive feedback to the hub entries that matched and contribute the
content's signals to a hub bank."""

from __future__ import annotations

import contextlib
import hashlib
import secrets
from datetime import datetime
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import insert, select, update

from cordon.errors import CordonError
from cordon.hub.client import HubClient, HubClientError
from cordon.hub.labels import check_label
from cordon.node.moderation import clock, preservation, statements, strikes
from cordon.node.moderation.context import Conflict, Context, Forbidden, NotFound, iso
from cordon.node.moderation.queue import case_row
from cordon.node.service import NodeError
from cordon.store.models import node_outbox, node_webhooks
from cordon.store.moderation_models import (
    mod_appeals,
    mod_cases,
    mod_decisions,
    mod_orders,
    mod_reports,
    mod_statements,
)

CASE_ACTIONS = ("remove", "restrict", "no_action", "escalate")
APPEAL_ACTIONS = ("uphold", "reverse")
RESTRICTING = ("remove", "restrict")


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Literal["remove", "restrict", "no_action", "escalate", "uphold", "reverse"]
    labels: list[str] = Field(default_factory=list, max_length=50)
    note: str | None = Field(default=None, max_length=5000)
    # The affected account, when the platform knows it (strikes and appeals attach to it).
    account: str | None = Field(default=None, max_length=200)
    ground: Literal["law", "terms"] = "terms"
    ground_reference: str | None = Field(default=None, max_length=1000)
    # Send confirm (restriction) or false_positive (no action, reversal) to the hub entries
    # that matched.
    hub_feedback: bool = False
    # Contribute the content's signals to this hub bank.
    contribute_to: str | None = Field(default=None, max_length=100)
    # Strike the account (default: on every restriction of an account).
    strike: bool | None = None

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: list[str]) -> list[str]:
        try:
            return list(dict.fromkeys(check_label(v) for v in value))
        except CordonError as exc:
            raise ValueError(str(exc)) from None


def queue_event(conn: Any, event: dict[str, Any], at: datetime) -> int:
    """A `decision` webhook event for every webhook that wants it, in the caller's
    transaction (the outbox of `cordon.node.webhooks` delivers it, signed, with retries)."""
    hooks = conn.execute(select(node_webhooks.c.id, node_webhooks.c.events).where(
        node_webhooks.c.deleted_at.is_(None))).all()
    body = orjson.dumps({"event": "decision", "at": at.isoformat(), **event},
                        default=str).decode()
    queued = 0
    for hook in hooks:
        if "decision" in (hook.events or []):
            conn.execute(insert(node_outbox).values(
                webhook_id=hook.id, event="decision", body=body, created_at=at, attempts=0,
                next_attempt_at=at, status="pending"))
            queued += 1
    return queued


def _notice(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_notice() -> tuple[str, str]:
    token = "N-" + secrets.token_urlsafe(24)
    return token, _notice(token)


def notice_digest(token: str) -> str:
    return _notice(token)


def decide(ctx: Context, case_id: int, reviewer: str, body: DecisionIn) -> dict[str, Any]:
    with ctx.store.read() as conn:
        case = case_row(conn, case_id)
    if case.status != "open":
        raise Conflict(f"case {case_id} is already decided")
    if case.kind == "appeal":
        return _decide_appeal(ctx, case, reviewer, body)
    if body.action not in CASE_ACTIONS:
        raise NodeError(f"a {case.kind} case is decided with one of {', '.join(CASE_ACTIONS)}",
                        422)
    if body.action == "escalate":
        return _escalate(ctx, case, reviewer, body)
    now = ctx.now()
    restricted = body.action in RESTRICTING
    account = body.account or case.account
    labels = body.labels or list(case.labels or [])
    notice = None
    result: dict[str, Any] = {}
    with ctx.node.plain_write() as conn:
        changed = conn.execute(update(mod_cases).where(
            mod_cases.c.id == case_id, mod_cases.c.status == "open").values(
            status="decided", open_key=None, decided_at=now, account=account)).rowcount
        if not changed:
            raise Conflict(f"case {case_id} is already decided")
        decision_id = conn.execute(insert(mod_decisions).values(
            case_id=case_id, reviewer=reviewer, action=body.action, labels=labels,
            note=body.note, decided_at=now, account=account, ground=body.ground,
            ground_reference=body.ground_reference,
            automated_detection=bool(case.matches) or case.kind == "match")
            .returning(mod_decisions.c.id)).scalar_one()
        decision = {"id": decision_id, "action": body.action, "labels": labels,
                    "note": body.note, "account": account, "ground": body.ground,
                    "ground_reference": body.ground_reference, "decided_at": now}
        order = None
        if case.order_id is not None:
            order = conn.execute(select(mod_orders).where(mod_orders.c.id == case.order_id)
                                 ).first()
            if restricted:
                conn.execute(update(mod_orders).where(mod_orders.c.id == case.order_id)
                             .values(executed_at=now))
        if restricted:
            trusted = conn.execute(select(mod_reports.c.id).where(
                mod_reports.c.case_id == case_id, mod_reports.c.trusted).limit(1)).first()
            appeal_until = clock.add_calendar(now, clock.zone(ctx.settings.timezone),
                                              months=ctx.settings.appeal_window_months)
            token, digest = new_notice()
            body_json = statements.build(
                case, decision, statements.detection(case, trusted is not None), appeal_until,
                "With the notice code you were given, read this statement and appeal on the "
                "page /ui/appeal (or POST /v1/notices/{code}/appeal) until the date given; "
                "a reviewer other than the one who decided answers within 14 days.")
            statement_id = conn.execute(insert(mod_statements).values(
                decision_id=decision_id, created_at=now, account=account,
                notice_digest=digest, appeal_until=appeal_until, body=body_json)
                .returning(mod_statements.c.id)).scalar_one()
            notice = {"statement": statement_id, "notice_code": token,
                      "appeal_until": iso(appeal_until)}
            if account and body.strike is not False:
                result["strike"] = strikes.add(ctx, conn, account, decision_id, labels, now)
        elif account and body.strike:
            result["strike"] = strikes.add(ctx, conn, account, decision_id, labels, now)
        if case.evidence is not None or restricted:
            until = preservation.keep_until(ctx, now, restricted)
            if order is not None and order.preserve_until is not None:
                until = max(until, order.preserve_until)
            record = {"case": {k: v for k, v in case._mapping.items()},
                      "decision": decision,
                      "order": dict(order._mapping) if order is not None else None}
            result["preservation"] = preservation.preserve(ctx, conn, case, decision_id,
                                                           record, until)
        events = queue_event(conn, {
            "case": case_id, "kind": case.kind, "action": body.action, "account": account,
            "subject": case.subject, "labels": labels, "decision": decision_id,
            "statement": notice["statement"] if notice else None,
            "order": case.order_id}, now)
    if events:
        ctx.node.outbox_ready.set()
    _match_verdicts(ctx, case, restricted)
    hub = _hub_effects(ctx, case, body, restricted)
    if hub:
        with ctx.node.plain_write() as conn:
            conn.execute(update(mod_decisions).where(mod_decisions.c.id == decision_id)
                         .values(hub=hub))
    return {"id": decision_id, "case": case_id, "reviewer": reviewer, "action": body.action,
            "labels": labels, "decided_at": iso(now), "account": account,
            "statement": notice, "hub": hub, **result}


def _escalate(ctx: Context, case: Any, reviewer: str, body: DecisionIn) -> dict[str, Any]:
    """A second opinion: the case stays open, at the top of its tier."""
    now = ctx.now()
    with ctx.node.plain_write() as conn:
        decision_id = conn.execute(insert(mod_decisions).values(
            case_id=case.id, reviewer=reviewer, action="escalate", labels=body.labels,
            note=body.note, decided_at=now, account=body.account, ground=body.ground,
            ground_reference=body.ground_reference,
            automated_detection=bool(case.matches)).returning(mod_decisions.c.id)).scalar_one()
        conn.execute(update(mod_cases).where(mod_cases.c.id == case.id).values(
            priority=case.priority + 1000))
    return {"id": decision_id, "case": case.id, "reviewer": reviewer, "action": "escalate",
            "labels": body.labels, "decided_at": iso(now), "statement": None, "hub": None}


def _decide_appeal(ctx: Context, case: Any, reviewer: str, body: DecisionIn) -> dict[str, Any]:
    if reviewer == case.excluded_reviewer:
        raise Forbidden("an appeal goes to a different reviewer than the one who decided")
    if body.action not in APPEAL_ACTIONS:
        raise NodeError(f"an appeal is decided with one of {', '.join(APPEAL_ACTIONS)}", 422)
    now = ctx.now()
    with ctx.node.plain_write() as conn:
        appeal = conn.execute(select(mod_appeals).where(mod_appeals.c.id == case.appeal_id)
                              ).first()
        if appeal is None:
            raise NotFound(f"the appeal of case {case.id} is missing")
        statement = conn.execute(select(mod_statements).where(
            mod_statements.c.id == appeal.statement_id)).one()
        changed = conn.execute(update(mod_cases).where(
            mod_cases.c.id == case.id, mod_cases.c.status == "open").values(
            status="decided", open_key=None, decided_at=now)).rowcount
        if not changed:
            raise Conflict(f"case {case.id} is already decided")
        decision_id = conn.execute(insert(mod_decisions).values(
            case_id=case.id, reviewer=reviewer, action=body.action,
            labels=body.labels or statement.body.get("labels", []), note=body.note,
            decided_at=now, account=statement.account, ground=body.ground,
            ground_reference=body.ground_reference, automated_detection=False)
            .returning(mod_decisions.c.id)).scalar_one()
        status = "reversed" if body.action == "reverse" else "upheld"
        conn.execute(update(mod_appeals).where(mod_appeals.c.id == appeal.id).values(
            status=status, decided_by=reviewer, decided_at=now))
        revoked = 0
        if status == "reversed":
            # Reinstatement: the statement is marked reversed and the strike lifted; the
            # platform restores the content when it reads the decision (or its webhook).
            conn.execute(update(mod_statements).where(mod_statements.c.id == statement.id)
                         .values(reversed_at=now))
            revoked = strikes.revoke_for(conn, statement.decision_id, now)
        original = conn.execute(select(mod_cases).join(
            mod_decisions, mod_decisions.c.case_id == mod_cases.c.id)
            .where(mod_decisions.c.id == statement.decision_id)).one()
        events = queue_event(conn, {
            "case": case.id, "kind": "appeal", "action": body.action, "outcome": status,
            "reinstate": status == "reversed", "account": statement.account,
            "subject": original.subject, "appealed_case": original.id,
            "decision": decision_id, "statement": statement.id}, now)
    if events:
        ctx.node.outbox_ready.set()
    hub = None
    if status == "reversed" and body.hub_feedback:
        hub = _hub_effects(ctx, original, body, restricted=False)
        if hub:
            with ctx.node.plain_write() as conn:
                conn.execute(update(mod_decisions).where(mod_decisions.c.id == decision_id)
                             .values(hub=hub))
    return {"id": decision_id, "case": case.id, "reviewer": reviewer, "action": body.action,
            "appeal": appeal.id, "outcome": status, "reinstated": status == "reversed",
            "strikes_revoked": revoked, "decided_at": iso(now), "statement": None,
            "hub": hub}


def _hub_effects(ctx: Context, case: Any, body: DecisionIn, restricted: bool) -> dict[str, Any]:
    """Feedback to the hub entries that matched, and a contribution of the content's
    signals; failures are recorded with the decision, which stands either way."""
    want_feedback = body.hub_feedback and any(m.get("origin") == "hub"
                                              for m in case.matches or [])
    if not want_feedback and not body.contribute_to:
        return {}
    settings = ctx.node.settings
    if not settings.hub_url or not settings.hub_token:
        return {"error": "this node follows no hub: nothing was sent"}
    out: dict[str, Any] = {}
    verdict = "confirm" if restricted else "false_positive"
    try:
        with HubClient(settings.hub_url, settings.hub_token, timeout=30) as hub:
            if want_feedback:
                out["feedback"] = [
                    {"entry": m["entry"], "verdict": verdict,
                     "answer": hub.feedback(int(m["entry"]), verdict, body.note)}
                    for m in case.matches or [] if m.get("origin") == "hub"]
            if body.contribute_to:
                if not case.signals:
                    out["contribute_error"] = "the case has no signals to contribute"
                else:
                    ids = hub.contribute(body.contribute_to, [{
                        "signals": case.signals, "labels": body.labels or case.labels or [],
                        "content_type": case.content_type,
                        "note": f"from moderation case {case.id}"}])
                    out["contributed"] = {"bank": body.contribute_to, "entries": ids}
    except HubClientError as exc:
        out["error"] = str(exc)
    return out


def _match_verdicts(ctx: Context, case: Any, restricted: bool) -> None:
    """The node's match log learns whether reviewers confirmed its matches."""
    for match in case.matches or []:
        if match.get("match") is not None:
            with contextlib.suppress(NodeError):  # a match log row pruned meanwhile
                ctx.node.set_verdict(int(match["match"]),
                                     "confirm" if restricted else "false_positive")
