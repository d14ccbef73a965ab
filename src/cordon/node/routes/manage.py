"""Private banks, sharing with the hub, rules, webhooks, the match log and feedback."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool

from cordon.hub.client import HubClient
from cordon.node.deps import AdminCaller, MatchesCaller, NodeDep, ReviewCaller
from cordon.node.schemas import (
    BankIn,
    ContributeIn,
    ContributeOut,
    RuleIn,
    RuleOut,
    ShareIn,
    VerdictIn,
    WebhookIn,
    WebhookOut,
)
from cordon.node.service import Node, NodeError

router = APIRouter()


def _hub(node: Node) -> HubClient:
    settings = node.settings
    if not settings.hub_url or not settings.hub_token:
        raise NodeError("this node follows no hub (start it with --hub and --token)", 409)
    return HubClient(settings.hub_url, settings.hub_token, timeout=30)


# --- private banks ---------------------------------------------------------------------------
@router.get("/v1/banks", tags=["banks"])
async def list_banks(node: NodeDep, _caller: AdminCaller) -> dict[str, Any]:
    """The node's private banks (mirrors of hub banks are named `hub.<bank>` in the store
    and are not listed here)."""
    return {"banks": await run_in_threadpool(node.private_banks)}


@router.post("/v1/banks", tags=["banks"], status_code=201)
async def create_bank(body: BankIn, node: NodeDep, _caller: AdminCaller) -> dict[str, Any]:
    return await run_in_threadpool(node.create_bank, body.name, body.description)


@router.post("/v1/banks/{bank}/entries", tags=["banks"], status_code=201,
             response_model=ContributeOut)
async def add_entries(bank: str, body: ContributeIn, node: NodeDep,
                      _caller: AdminCaller) -> dict[str, Any]:
    """Add entries to a private bank: matchable at once, never sent to the hub unless
    shared."""
    items = [e.model_dump() for e in body.entries]
    return {"ids": await run_in_threadpool(node.add_entries, bank, items)}


@router.get("/v1/banks/{bank}/entries", tags=["banks"])
async def bank_entries(bank: str, node: NodeDep, _caller: AdminCaller,
                       limit: Annotated[int, Query(ge=1, le=10_000)] = 1000) -> dict[str, Any]:
    return {"entries": await run_in_threadpool(node.private_entries, bank, limit)}


@router.get("/v1/entries/{entry_id}", tags=["banks"])
async def get_entry(entry_id: int, node: NodeDep, _caller: MatchesCaller) -> dict[str, Any]:
    return await run_in_threadpool(node.private_entry, entry_id)


@router.delete("/v1/entries/{entry_id}", tags=["banks"])
async def withdraw_entry(entry_id: int, node: NodeDep, _caller: AdminCaller) -> dict[str, Any]:
    return await run_in_threadpool(node.withdraw_entry, entry_id)


@router.post("/v1/entries/{entry_id}/share", tags=["banks"], status_code=201)
async def share_entry(entry_id: int, body: ShareIn, node: NodeDep,
                      _caller: AdminCaller) -> dict[str, Any]:
    """Contribute a private entry to a hub bank: its signals, labels, content type and note
    (never content)."""
    def run() -> dict[str, Any]:
        hub_id = share_entries(node, [entry_id], body.bank, body.incident)[0]
        return {"entry": entry_id, "hub_bank": body.bank, "hub_entry": hub_id}
    return await run_in_threadpool(run)


def share_entries(node: Node, entry_ids: Sequence[int], bank: str,
                  incident: int | None = None) -> list[int]:
    """Contribute private entries to a hub bank in one contribution: their signals, labels,
    content type and note, never content. The hub's entry ids, in order."""
    contributions = []
    for entry_id in entry_ids:
        entry = node.private_entry(entry_id)
        signals: dict[str, str] = {}
        for item in entry["signals"]:
            signals.setdefault(item["signal_type"], item["value"])
        contribution = {"signals": signals, "labels": entry["labels"],
                        "content_type": entry["content_type"], "note": entry["note"]}
        if incident is not None:
            contribution["incident"] = incident
        contributions.append(contribution)
    with _hub(node) as hub:
        return hub.contribute(bank, contributions)


# --- rules -----------------------------------------------------------------------------------
@router.get("/v1/rules", tags=["rules"], response_model=dict[str, list[RuleOut]])
async def list_rules(node: NodeDep, _caller: AdminCaller) -> dict[str, Any]:
    rules = await run_in_threadpool(node.rules)
    return {"rules": [node.rule_json(r) for r in rules]}


@router.post("/v1/rules", tags=["rules"], status_code=201, response_model=RuleOut)
async def add_rule(body: RuleIn, node: NodeDep, _caller: AdminCaller) -> dict[str, Any]:
    """A rule applies to a match when every condition it sets holds; the match response
    then carries its action."""
    conditions = body.model_dump(exclude={"name", "action"})
    return await run_in_threadpool(node.add_rule, body.name, body.action, conditions)


@router.delete("/v1/rules/{rule_id}", tags=["rules"], status_code=204)
async def delete_rule(rule_id: int, node: NodeDep, _caller: AdminCaller) -> None:
    await run_in_threadpool(node.delete_rule, rule_id)


# --- webhooks --------------------------------------------------------------------------------
@router.get("/v1/webhooks", tags=["webhooks"], response_model=dict[str, list[WebhookOut]])
async def list_webhooks(node: NodeDep, _caller: AdminCaller) -> dict[str, Any]:
    return {"webhooks": await run_in_threadpool(node.webhooks)}


@router.post("/v1/webhooks", tags=["webhooks"], status_code=201, response_model=WebhookOut)
async def add_webhook(body: WebhookIn, node: NodeDep, _caller: AdminCaller) -> dict[str, Any]:
    """Deliveries are POSTed as JSON, signed: `X-Cordon-Signature: sha256=HMAC(secret,
    X-Cordon-Timestamp + "." + body)`, with `X-Cordon-Event` and `X-Cordon-Delivery`."""
    if not body.url.startswith(("http://", "https://")):
        raise NodeError("a webhook URL starts with http:// or https://", 422)
    return await run_in_threadpool(node.add_webhook, body.url, body.secret, body.events)


@router.delete("/v1/webhooks/{hook_id}", tags=["webhooks"], status_code=204)
async def delete_webhook(hook_id: int, node: NodeDep, _caller: AdminCaller) -> None:
    await run_in_threadpool(node.delete_webhook, hook_id)


@router.get("/v1/webhooks/{hook_id}/deliveries", tags=["webhooks"])
async def deliveries(hook_id: int, node: NodeDep, _caller: AdminCaller,
                     limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> dict[str, Any]:
    return {"deliveries": await run_in_threadpool(node.deliveries, hook_id, limit)}


# --- the match log ---------------------------------------------------------------------------
@router.get("/v1/matches", tags=["matches"])
async def list_matches(node: NodeDep, _caller: MatchesCaller,
                       limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                       before: int | None = None) -> dict[str, Any]:
    """Recorded matches, newest first: what matched, how closely, and which rules acted."""
    return {"matches": await run_in_threadpool(node.matches, limit, before)}


@router.get("/v1/matches/{match_id}", tags=["matches"])
async def get_match(match_id: int, node: NodeDep, _caller: MatchesCaller) -> dict[str, Any]:
    return await run_in_threadpool(node.match_record, match_id)


@router.post("/v1/matches/{match_id}/feedback", tags=["matches"])
async def match_feedback(match_id: int, body: VerdictIn, request: Request, node: NodeDep,
                         _caller: ReviewCaller) -> dict[str, Any]:
    """Record a reviewer's verdict; for a hub entry, forward it to the hub."""
    def run() -> dict[str, Any]:
        record = node.match_record(match_id)
        hub_answer = None
        if record["origin"] == "hub":
            with _hub(node) as hub:
                hub_answer = hub.feedback(record["entry"], body.verdict, body.note)
        return {**node.set_verdict(match_id, body.verdict), "hub": hub_answer}
    return await run_in_threadpool(run)
