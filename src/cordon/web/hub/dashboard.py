"""The hub's dashboard: entries by signal type, label and contributor, contributions over
time, the latest entries and (admins) the latest audit records."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from cordon.hub.service import Hub
from cordon.web.auth import CurrentUser
from cordon.web.hub.queries import EntrySearch, search_entries
from cordon.web.hub.realm import member_of
from cordon.web.mount import NavItem
from cordon.web.templates import render

router = APIRouter(prefix="/ui", include_in_schema=False)
NAV = (NavItem("/ui/", "Dashboard", order=10),)
RECENT = 10


@router.get("/", response_class=HTMLResponse)
async def dashboard(request: Request, user: CurrentUser) -> HTMLResponse:
    hub: Hub = request.app.state.hub
    member = member_of(user)

    def load() -> dict[str, object]:
        stats = request.app.state.hub_stats.statistics(member)
        with hub.store.read() as conn:
            entries = search_entries(conn, member, EntrySearch(withdrawn=True), None, RECENT)
        audit = (hub.audit_records(member, before=None, limit=RECENT, action=None,
                                   object_prefix=None, since=None, until=None)
                 if member.role == "admin" else [])
        months = [(month, counts["contributed"]) for month, counts in stats["by_month"].items()]
        return {"stats": stats, "months": months, "recent": entries, "audit": audit}

    return render(request, "hub/dashboard.html", **await run_in_threadpool(load))
