"""Entries: search by hash, label, contributor and bank; an entry's page with its signals,
feedback and history; giving feedback and withdrawing."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from cordon.hub.errors import HubError
from cordon.hub.service import WRITERS, Hub
from cordon.store.hub_repository import VERDICTS
from cordon.web.auth import CheckedForm, CurrentUser
from cordon.web.hub import forms
from cordon.web.hub.queries import EntrySearch, feedback_of, search_entries
from cordon.web.hub.realm import Writer, member_of
from cordon.web.mount import NavItem, client_address
from cordon.web.templates import redirect, render

router = APIRouter(prefix="/ui", include_in_schema=False)
NAV = (NavItem("/ui/entries", "Entries", order=30),)
PAGE = 50
VERDICT_TEXT = {"confirm": "Confirm: it is terrorist or violent-extremist content",
                "false_positive": "False positive: it is not",
                "disagree_label": "The content is right, a label is wrong"}


@router.get("/entries", response_class=HTMLResponse)
async def search(
    request: Request, user: CurrentUser,
    hash: Annotated[str, Query(max_length=400_000)] = "",
    label: Annotated[str, Query(max_length=200)] = "",
    contributor: Annotated[str, Query(max_length=100)] = "",
    bank: Annotated[str, Query(max_length=100)] = "",
    withdrawn: bool = False,
    before: Annotated[int | None, Query(ge=1)] = None,
) -> HTMLResponse:
    hub: Hub = request.app.state.hub
    criteria = EntrySearch(hash.strip(), label.strip(), contributor.strip(), bank.strip(),
                           withdrawn)

    def load() -> list[Any]:
        with hub.store.read() as conn:
            return search_entries(conn, member_of(user), criteria, before, PAGE)

    rows = await run_in_threadpool(load)
    next_url = None
    if len(rows) == PAGE:
        kept = {k: v for k, v in {"hash": criteria.text, "label": criteria.label,
                                  "contributor": criteria.contributor, "bank": criteria.bank,
                                  "withdrawn": "true" if withdrawn else ""}.items() if v}
        next_url = "/ui/entries?" + urlencode({**kept, "before": rows[-1].change_seq})
    return render(request, "hub/entries.html", recent=rows, search=criteria, next_url=next_url)


def _entry_page(request: Request, user: Any, entry_id: int, status_code: int = 200,
                error: str | None = None) -> HTMLResponse:
    hub: Hub = request.app.state.hub
    member = member_of(user)
    entry = hub.entry(member, entry_id)
    with hub.store.read() as conn:
        feedback = feedback_of(conn, entry_id)
    history = (hub.audit_records(member, before=None, limit=100, action=None,
                                 object_prefix=f"entry:{entry_id}", since=None, until=None)
               if member.role == "admin" else [])
    # The prefix also finds entry:{id}0..., so keep exact objects only.
    history = [r for r in history if r["object"] == f"entry:{entry_id}"]
    can_withdraw = not entry["withdrawn"] and (
        member.role == "admin" or (member.role in WRITERS and entry["contributor"] == member.name))
    return render(request, "hub/entry.html", status_code=status_code, entry=entry,
                  feedback=feedback, history=history, verdicts=VERDICT_TEXT,
                  can_withdraw=can_withdraw, error=error)


@router.get("/entries/{entry_id}", response_class=HTMLResponse)
async def entry(entry_id: int, request: Request, user: CurrentUser) -> HTMLResponse:
    return await run_in_threadpool(_entry_page, request, user, entry_id)


@router.post("/entries/{entry_id}/feedback")
async def feedback(entry_id: int, request: Request, user: CurrentUser,
                   form: CheckedForm) -> Response:
    hub: Hub = request.app.state.hub
    verdict = forms.text(form, "verdict")
    note = forms.text(form, "note", 100_000) or None

    def give() -> Response:
        if verdict not in VERDICTS:
            return _entry_page(request, user, entry_id, 422, "choose a verdict")
        try:
            hub.feedback(member_of(user), entry_id, verdict, note, client_address(request))
        except HubError as exc:
            if exc.status in (403, 404):
                raise
            return _entry_page(request, user, entry_id, exc.status, str(exc))
        return redirect(f"/ui/entries/{entry_id}", "Your feedback is recorded.")

    return await run_in_threadpool(give)


@router.post("/entries/{entry_id}/withdraw")
async def withdraw(entry_id: int, request: Request, user: Writer,
                   form: CheckedForm) -> Response:
    hub: Hub = request.app.state.hub
    await run_in_threadpool(hub.withdraw, member_of(user), entry_id, client_address(request))
    return redirect(f"/ui/entries/{entry_id}", f"Entry {entry_id} is withdrawn.")
