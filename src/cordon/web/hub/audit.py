"""The hub's audit log (admins): who did what, when, to what and from where."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from cordon.hub.service import Hub
from cordon.web.auth import Admin
from cordon.web.hub.realm import member_of
from cordon.web.mount import NavItem
from cordon.web.templates import render

router = APIRouter(prefix="/ui", include_in_schema=False)
NAV = (NavItem("/ui/audit", "Audit log", ("admin",), order=60),)
PAGE = 50


def _day(text: str, field: str) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text + "T00:00:00+00:00")
    except ValueError:
        raise _BadFilter(f"{field}: give a date as YYYY-MM-DD") from None


class _BadFilter(ValueError):
    pass


@router.get("/audit", response_class=HTMLResponse)
async def audit(
    request: Request, user: Admin,
    member: Annotated[str, Query(max_length=100)] = "",
    action: Annotated[str, Query(max_length=100)] = "",
    object: Annotated[str, Query(max_length=300)] = "",
    since: Annotated[str, Query(max_length=10)] = "",
    until: Annotated[str, Query(max_length=10)] = "",
    before: Annotated[int | None, Query(ge=1)] = None,
) -> HTMLResponse:
    hub: Hub = request.app.state.hub
    filters = {"member": member, "action": action, "object": object, "since": since,
               "until": until}
    try:
        start, end = _day(since, "from"), _day(until, "until")
    except _BadFilter as exc:
        return render(request, "hub/audit.html", status_code=422, error=str(exc), audit=[],
                      filters=filters, next_url=None)
    records = await run_in_threadpool(
        lambda: hub.audit_records(member_of(user), who=member.strip() or None, before=before,
                                  limit=PAGE, action=action.strip() or None,
                                  object_prefix=object or None, since=start, until=end))
    next_url = None
    if len(records) == PAGE:
        kept = {k: v for k, v in filters.items() if v}
        next_url = "/ui/audit?" + urlencode({**kept, "before": records[-1]["id"]})
    return render(request, "hub/audit.html", error=None, audit=records, filters=filters,
                  next_url=next_url)
