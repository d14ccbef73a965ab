"""Banks: the list, creating one, a bank's page with its entries, and adding entries from
signals: pasted hashes, or a hash list in one of the formats of `cordon bank import`.

The hub never receives content, not even from its own pages: both forms post text
(urlencoded), and go through the same contribution and import services as the API. Media
is hashed where it lives, on a member's node ("build a bank from files" on the node's pages).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import FormData

from cordon.banks.formats import AUTO, FORMATS
from cordon.banks.service import ImportSummary
from cordon.errors import CordonError
from cordon.hub.errors import HubError, Unprocessable
from cordon.hub.service import WRITERS, EntryInput, Hub
from cordon.signals import all_signal_types
from cordon.web.auth import CheckedForm, CurrentUser, NotFound, WebUser
from cordon.web.hub import forms
from cordon.web.hub.queries import EntrySearch, search_entries
from cordon.web.hub.realm import Writer, member_of
from cordon.web.mount import NavItem, client_address
from cordon.web.templates import redirect, render

router = APIRouter(prefix="/ui", include_in_schema=False)
NAV = (NavItem("/ui/banks", "Banks", order=20),)
PAGE = 50
# Pasted hashes are one contribution: the API's limit on entries per request.
MAX_PASTED = 10_000
CONTENT_TYPES = ("image", "video", "other")


def _bank(hub: Hub, user: WebUser, name: str) -> dict[str, Any]:
    for bank in hub.list_banks(member_of(user)):
        if bank["name"] == name:
            return bank
    raise NotFound(f"no bank named {name!r} that you may see")


@router.get("/banks", response_class=HTMLResponse)
async def banks(request: Request, user: CurrentUser) -> HTMLResponse:
    hub: Hub = request.app.state.hub
    rows = await run_in_threadpool(hub.list_banks, member_of(user))
    return render(request, "hub/banks.html", banks=rows, error=None,
                  can_write=user.role in WRITERS)


@router.post("/banks")
async def create_bank(request: Request, form: CheckedForm,
                      user: Writer) -> Response:
    hub: Hub = request.app.state.hub
    name = forms.text(form, "name", 200)
    sharing = forms.text(form, "sharing")
    shared = (["*"] if sharing == "all" else
              forms.names(forms.text(form, "members")) if sharing == "some" else [])

    def create() -> Response:
        try:
            hub.create_bank(member_of(user), name, forms.text(form, "description") or None,
                            shared, client_address(request))
        except HubError as exc:
            return render(request, "hub/banks.html", status_code=exc.status, error=str(exc),
                          banks=hub.list_banks(member_of(user)), can_write=True)
        return redirect(f"/ui/banks/{name}", f"Bank {name} created.")

    return await run_in_threadpool(create)


@router.get("/banks/{name}", response_class=HTMLResponse)
async def bank_page(
    name: str, request: Request, user: CurrentUser,
    before: Annotated[int | None, Query(ge=1)] = None,
) -> HTMLResponse:
    hub: Hub = request.app.state.hub

    def load() -> dict[str, Any]:
        bank = _bank(hub, user, name)
        with hub.store.read() as conn:
            rows = search_entries(conn, member_of(user), EntrySearch(bank=name), before, PAGE)
        return {"bank": bank, "recent": rows,
                "next_url": f"/ui/banks/{name}?before={rows[-1].change_seq}" if len(rows) == PAGE
                else None}

    return _bank_page(request, user, **await run_in_threadpool(load))


@dataclass
class Outcome:
    """What one of the bank page's forms did: entries added, or the reasons it added none."""

    added: list[dict[str, Any]] = field(default_factory=list)
    summary: ImportSummary | None = None
    error: str | None = None
    problems: list[dict[str, Any]] = field(default_factory=list)


def _bank_page(request: Request, user: WebUser, *, bank: dict[str, Any],
               recent: list[Any] | None = None, next_url: str | None = None,
               outcome: Outcome | None = None, form: FormData | None = None) -> HTMLResponse:
    outcome = outcome or Outcome()
    failed = outcome.error is not None
    return render(request, "hub/bank.html", status_code=422 if failed else 200, bank=bank,
                  recent=recent or [], next_url=next_url, can_write=user.role in WRITERS,
                  behaviours=forms.BEHAVIOUR_LABELS,
                  signal_types=[s.name for s in all_signal_types()],
                  content_types=CONTENT_TYPES, formats=(AUTO, *FORMATS), outcome=outcome,
                  shown=outcome.added or outcome.summary is not None or failed,
                  # A refused form comes back filled in, to be corrected rather than retyped.
                  kept={k: v for k, v in (form or {}).items() if k != "csrf_token"}
                  if failed else {})


@router.post("/banks/{name}/signals", response_class=HTMLResponse)
async def add_signals(name: str, request: Request, form: CheckedForm,
                      user: Writer) -> HTMLResponse:
    """Contribute pasted hashes, one entry per line, through the hub's contribution service."""
    hub: Hub = request.app.state.hub
    bank = await run_in_threadpool(_bank, hub, user, name)
    outcome = await run_in_threadpool(_contribute_lines, hub, user, name, form,
                                      client_address(request))
    return _bank_page(request, user, bank=bank, outcome=outcome, form=form)


def _contribute_lines(hub: Hub, user: WebUser, bank: str, form: FormData,
                      client: str | None) -> Outcome:
    signal_type = forms.text(form, "signal_type", 100)
    content_type = forms.text(form, "content_type", 20) or None
    raw = form.get("hashes")
    lines = [(number, line.strip()) for number, line in
             enumerate((raw if isinstance(raw, str) else "").splitlines(), start=1)
             if line.strip()]
    if not lines:
        return Outcome(error="paste at least one hash")
    if len(lines) > MAX_PASTED:
        return Outcome(error=f"at most {MAX_PASTED} hashes at once, got {len(lines)}: "
                       "import a larger list as a hash list")
    if content_type is not None and content_type not in CONTENT_TYPES:
        return Outcome(error=f"unknown content type {content_type!r}")
    labels, note = forms.labels(form), forms.text(form, "note") or None
    items = [EntryInput({signal_type: text}, labels, content_type, None, note)
             for _, text in lines]
    try:
        ids = hub.contribute(member_of(user), bank, items, client)
    except Unprocessable as exc:
        problems = []
        for error in exc.errors:
            loc = error.get("loc") or ()
            index = loc[2] if len(loc) > 2 and isinstance(loc[2], int) else None
            number, text = lines[index] if index is not None and index < len(lines) else (
                None, None)
            problems.append({"where": f"line {number}" if number else "",
                             "text": text, "message": error.get("msg")})
        return Outcome(error="nothing was added: correct the lines below", problems=problems)
    except HubError as exc:
        return Outcome(error=str(exc))
    return Outcome(added=[{"where": f"line {number}", "text": text, "entry": entry}
                          for (number, text), entry in zip(lines, ids, strict=True)])


@router.post("/banks/{name}/import", response_class=HTMLResponse)
async def import_list(name: str, request: Request, form: CheckedForm,
                      user: Writer) -> HTMLResponse:
    """Import a hash list (the text of the form's field) through the hub's import service,
    the same as `POST /v1/banks/{bank}/import`."""
    hub: Hub = request.app.state.hub
    bank = await run_in_threadpool(_bank, hub, user, name)
    raw = form.get("hashlist")
    data = (raw if isinstance(raw, str) else "").encode()
    fmt = forms.text(form, "format", 20) or AUTO

    def run() -> Outcome:
        if not data.strip():
            return Outcome(error="paste a hash list, or choose its file")
        if fmt not in (AUTO, *FORMATS):
            return Outcome(error=f"unknown format {fmt!r} (known: {', '.join(FORMATS)})")
        try:
            summary = hub.import_bank(member_of(user), name, data, fmt, client_address(request))
        except (HubError, CordonError) as exc:
            return Outcome(error=str(exc))
        problems = [{"where": p.location, "text": None, "message": p.message,
                     "skipped": p.skipped} for p in summary.problems]
        if summary.records and summary.skipped == summary.records:
            return Outcome(summary=summary, problems=problems,
                           error="no record of the list could be imported")
        return Outcome(summary=summary, problems=problems)

    outcome = await run_in_threadpool(run)
    return _bank_page(request, user, bank=bank, outcome=outcome, form=form)


