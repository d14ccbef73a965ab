"""The node's incidents: a banner for every open incident learned from the hub, what the
node knows of each (when it learned and acknowledged it, its counts), and the crisis mode
that admins switch on and off."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from cordon.node.incidents import NodeIncidents
from cordon.node.rules import ACTIONS
from cordon.node.service import NodeError
from cordon.web.auth import CheckedForm, CurrentUser, WebUser, require_role
from cordon.web.mount import NavItem
from cordon.web.templates import redirect, render

Admin = Annotated[WebUser, Depends(require_role("admin"))]
router = APIRouter(prefix="/ui", include_in_schema=False)
NAV = (NavItem("/ui/incidents", "Incidents", order=15),)


def _incidents(request: Request) -> NodeIncidents:
    return request.app.state.incidents  # type: ignore[no-any-return]


async def _page(request: Request, user: WebUser, status_code: int = 200,
                error: str | None = None) -> HTMLResponse:
    incidents = await run_in_threadpool(_incidents(request).list)
    return render(request, "incidents/node.html", status_code=status_code,
                  incidents=incidents, open=[i for i in incidents if i["status"] == "open"],
                  actions=ACTIONS, error=error, is_admin=user.role == "admin")


@router.get("/incidents", response_class=HTMLResponse)
async def incidents(request: Request, user: CurrentUser) -> HTMLResponse:
    return await _page(request, user)


@router.post("/incidents/{incident_id}/crisis", response_class=HTMLResponse)
async def crisis(request: Request, user: Admin, form: CheckedForm,
                 incident_id: int) -> Response:
    action = str(form.get("action") or "")
    distance_text = str(form.get("max_distance") or "").strip()
    try:
        if action == "off":
            chosen, distance = None, None
        elif action in ACTIONS:
            chosen = action
            distance = float(distance_text) if distance_text else None
            if distance is not None and distance < 0:
                raise ValueError
        else:
            raise NodeError(f"unknown action {action!r}", 422)
        await run_in_threadpool(_incidents(request).set_crisis, incident_id, chosen, distance)
    except ValueError:
        return await _page(request, user, 422,
                           f"the maximum distance {distance_text!r} is not a number >= 0")
    except NodeError as exc:
        if exc.status == 404:
            raise
        return await _page(request, user, exc.status, str(exc))
    message = (f"Crisis mode for incident {incident_id}: {chosen}." if chosen
               else f"Crisis mode for incident {incident_id} is off.")
    return redirect("/ui/incidents", message)
