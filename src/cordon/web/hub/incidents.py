"""The incidents console of the hub: the list, the declare form, an incident's timeline with
its live counters and the admins' update and conclude forms, and the debrief."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from cordon.hub.errors import HubError
from cordon.hub.incidents import LEVELS, Change, Declaration
from cordon.hub.service import Hub
from cordon.web.auth import CheckedForm, CurrentUser
from cordon.web.hub.realm import member_of
from cordon.web.mount import NavItem, client_address
from cordon.web.templates import redirect, render

router = APIRouter(prefix="/ui", include_in_schema=False)
NAV = (NavItem("/ui/incidents", "Incidents", order=35),)
# The incident page reloads itself while the incident is open: its counters stay live.
REFRESH_SECONDS = 10


def _text(form: Any, name: str, limit: int) -> str | None:
    value = str(form.get(name) or "").strip()
    if len(value) > limit:
        raise HubError(f"the {name.replace('_', ' ')} has at most {limit} characters", 422)
    return value or None


def _when(form: Any) -> datetime | None:
    text = _text(form, "attack_at", 40)
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise HubError(f"the time of the attack {text!r} is not an ISO 8601 time "
                       "(e.g. 2026-11-21T03:00:00+00:00)", 422) from None
    if value.tzinfo is None:
        raise HubError("give the time of the attack with its time zone (e.g. +00:00)", 422)
    return value


def _list_page(request: Request, user: Any, status_code: int = 200,
               error: str | None = None, form: Any = None) -> HTMLResponse:
    hub: Hub = request.app.state.hub
    member = member_of(user)
    incidents = hub.incidents.list(member)
    banks = [b["name"] for b in hub.list_banks(member)]
    return render(request, "incidents/list.html", status_code=status_code,
                  incidents=incidents, banks=banks, levels=LEVELS, error=error,
                  form=form or {}, can_declare=member.role != "reader",
                  is_admin=member.role == "admin")


@router.get("/incidents", response_class=HTMLResponse)
async def incidents(request: Request, user: CurrentUser) -> HTMLResponse:
    return await run_in_threadpool(_list_page, request, user)


@router.post("/incidents", response_class=HTMLResponse)
async def declare(request: Request, user: CurrentUser, form: CheckedForm) -> Response:
    hub: Hub = request.app.state.hub

    def run() -> Response:
        try:
            level = str(form.get("level") or "")
            criteria = tuple(c.strip() for c in str(form.get("criteria") or "").split("\n")
                             if c.strip())
            if len(criteria) > 20 or any(len(c) > 200 for c in criteria):
                raise HubError("at most 20 criteria of up to 200 characters each", 422)
            item = Declaration(level, _text(form, "title", 200) or "",
                               str(form.get("bank") or ""), _text(form, "description", 2000),
                               _text(form, "location", 200), _when(form), criteria)
            incident = hub.incidents.declare(member_of(user), item,
                                             client_address(request) or "ui")
        except HubError as exc:
            if exc.status == 403:
                raise
            return _list_page(request, user, exc.status, str(exc), form)
        verb = "Declared" if incident["status"] == "open" else "Proposed"
        return redirect(f"/ui/incidents/{incident['id']}", f"{verb} incident {incident['id']}.")

    return await run_in_threadpool(run)


def _incident_page(request: Request, user: Any, incident_id: int, status_code: int = 200,
                   error: str | None = None) -> HTMLResponse:
    hub: Hub = request.app.state.hub
    member = member_of(user)
    incident = hub.incidents.get(member, incident_id)
    report = hub.incidents.report(member, incident_id)
    return render(request, "incidents/incident.html", status_code=status_code,
                  incident=incident, report=report, levels=LEVELS, error=error,
                  is_admin=member.role == "admin",
                  refresh=REFRESH_SECONDS if incident["status"] == "open" else None)


@router.get("/incidents/{incident_id}", response_class=HTMLResponse)
async def incident(request: Request, user: CurrentUser, incident_id: int) -> HTMLResponse:
    return await run_in_threadpool(_incident_page, request, user, incident_id)


@router.post("/incidents/{incident_id}", response_class=HTMLResponse)
async def change(request: Request, user: CurrentUser, form: CheckedForm,
                 incident_id: int) -> Response:
    """Update, escalate, confirm, reject or conclude (admins; others get the hub's 403)."""
    hub: Hub = request.app.state.hub
    action = str(form.get("action") or "update")

    def run() -> Response:
        try:
            level = str(form.get("level") or "") or None
            status = {"conclude": "concluded", "confirm": "open",
                      "reject": "rejected"}.get(action)
            item = Change(status=status, level=level,
                          situation=_text(form, "situation", 2000))
            hub.incidents.change(member_of(user), incident_id, item,
                                 client_address(request) or "ui")
        except HubError as exc:
            if exc.status in (403, 404):
                raise
            return _incident_page(request, user, incident_id, exc.status, str(exc))
        return redirect(f"/ui/incidents/{incident_id}", f"Incident {incident_id}: {action}d."
                        if action != "update" else f"Incident {incident_id} updated.")

    return await run_in_threadpool(run)


@router.get("/incidents/{incident_id}/debrief", response_class=HTMLResponse)
async def debrief(request: Request, user: CurrentUser, incident_id: int) -> HTMLResponse:
    hub: Hub = request.app.state.hub
    report = await run_in_threadpool(hub.incidents.report, member_of(user), incident_id)
    chart = [(f"hour {h['hour']}", h["hashes"]) for h in report["hashes_per_hour"]]
    return render(request, "incidents/debrief.html", report=report,
                  incident=report["incident"], chart=chart)
