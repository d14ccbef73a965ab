"""Entries: contribute, read one, withdraw, give feedback."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from cordon.hub.deps import Client, HubDep, Member
from cordon.hub.errors import HubError
from cordon.hub.schemas import (
    ContributeIn,
    ContributeOut,
    EntryOut,
    FeedbackIn,
    FeedbackOut,
    WithdrawOut,
)
from cordon.hub.service import EntryInput

router = APIRouter(tags=["entries"])


@router.post("/v1/banks/{bank}/entries", response_model=ContributeOut)
def contribute(
    bank: str, body: ContributeIn, member: Member, hub: HubDep, client: Client,
    request: Request,
) -> dict[str, Any]:
    """Add entries (or merge into the entries that hold their signals already); ids come back
    in the order of the request."""
    limit = request.app.state.settings.max_entries
    if len(body.entries) > limit:
        raise HubError(f"at most {limit} entries per request, got {len(body.entries)}", 422)
    items = [
        EntryInput(e.signals, e.labels, e.content_type,
                   None if e.incident is None else str(e.incident), e.note)
        for e in body.entries
    ]
    request.state.entries = len(items)
    return {"ids": hub.contribute(member, bank, items, client)}


@router.get("/v1/entries/{entry_id}", response_model=EntryOut)
def get_entry(entry_id: int, member: Member, hub: HubDep) -> dict[str, Any]:
    """One entry, as the feed shows it."""
    return hub.entry(member, entry_id)


@router.delete("/v1/entries/{entry_id}", response_model=WithdrawOut)
def withdraw(entry_id: int, member: Member, hub: HubDep, client: Client) -> dict[str, Any]:
    """Withdraw an entry (its contributor or an admin). A tombstone stays for followers."""
    return hub.withdraw(member, entry_id, client)


@router.post("/v1/entries/{entry_id}/feedback", response_model=FeedbackOut)
def feedback(
    entry_id: int, body: FeedbackIn, member: Member, hub: HubDep, client: Client
) -> dict[str, Any]:
    """Give the caller's verdict on an entry; it replaces the caller's previous one."""
    return hub.feedback(member, entry_id, body.verdict, body.note, client)
