"""Incidents: declare, update, conclude, acknowledge, report counts, read the debrief."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Header, Query, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from cordon.hub.deps import Client, HubDep, Member
from cordon.hub.incident_report import render_report
from cordon.hub.incident_schemas import (
    AckOut,
    CountsIn,
    CountsOut,
    IncidentDetail,
    IncidentIn,
    IncidentOut,
    IncidentPatch,
    IncidentsOut,
)
from cordon.hub.incidents import Change, Declaration

router = APIRouter(tags=["incidents"])
IncidentId = Annotated[int, "the incident's number"]


@router.post("/v1/incidents", response_model=IncidentOut, status_code=201)
async def declare(body: IncidentIn, member: Member, hub: HubDep, client: Client
                  ) -> dict[str, Any]:
    """Declare an incident (admins; it opens at once and reaches every node) or propose one
    (contributors; an admin confirms it with `PATCH {"status": "open"}`)."""
    item = Declaration(body.level, body.title, body.bank, body.description, body.location,
                       body.attack_at, tuple(body.criteria))
    return await run_in_threadpool(hub.incidents.declare, member, item, client)


@router.get("/v1/incidents", response_model=IncidentsOut)
async def list_incidents(
    member: Member, hub: HubDep,
    status: Literal["proposed", "open", "concluded", "rejected"] | None = None,
) -> dict[str, Any]:
    """Incidents, newest first. Proposals are shown to admins and to their author only."""
    return {"incidents": await run_in_threadpool(hub.incidents.list, member, status)}


@router.get("/v1/incidents/{incident_id}", response_model=IncidentDetail)
async def get_incident(incident_id: IncidentId, member: Member, hub: HubDep) -> dict[str, Any]:
    """An incident with its timeline: declaration, updates, hash batches, acknowledgements
    and conclusion, with times and authors."""
    return await run_in_threadpool(hub.incidents.get, member, incident_id)


@router.patch("/v1/incidents/{incident_id}", response_model=IncidentOut)
async def change(incident_id: IncidentId, body: IncidentPatch, member: Member, hub: HubDep,
                 client: Client) -> dict[str, Any]:
    """Update the situation, escalate or de-escalate, confirm or reject a proposal, or
    conclude (admins)."""
    item = Change(body.status, body.level, body.situation, body.title, body.description,
                  body.location, body.attack_at,
                  None if body.criteria is None else tuple(body.criteria))
    return await run_in_threadpool(hub.incidents.change, member, incident_id, item, client)


@router.post("/v1/incidents/{incident_id}/ack", response_model=AckOut)
async def acknowledge(incident_id: IncidentId, member: Member, hub: HubDep, client: Client
                      ) -> dict[str, Any]:
    """Acknowledge receipt (nodes do it on their own when they learn of the incident). The
    first acknowledgement of each member goes on the timeline."""
    return await run_in_threadpool(hub.incidents.acknowledge, member, incident_id, client)


@router.put("/v1/incidents/{incident_id}/counts", response_model=CountsOut)
async def counts(incident_id: IncidentId, body: CountsIn, member: Member, hub: HubDep
                 ) -> dict[str, Any]:
    """The caller's totals for the incident (matches of its entries, and blocks among
    them): numbers only, never content. Each report replaces the previous one."""
    return await run_in_threadpool(hub.incidents.report_counts, member, incident_id,
                                   body.matches, body.blocks)


@router.get("/v1/incidents/{incident_id}/report",
            responses={200: {"content": {"application/json": {}, "text/html": {}}}})
async def report(
    incident_id: IncidentId, member: Member, hub: HubDep,
    format: Annotated[Literal["json", "html"] | None, Query()] = None,
    accept: Annotated[str | None, Header(max_length=1000)] = None,
) -> Response:
    """The debrief: time from declaration to first hash, hashes per hour, distinct items,
    acknowledgements and how fast, matches and blocks reported by members, time to
    conclusion. JSON, or a readable page with `format=html` (or `Accept: text/html`)."""
    data = await run_in_threadpool(hub.incidents.report, member, incident_id)
    wants_html = format == "html" or (format is None and accept is not None
                                      and "text/html" in accept)
    if wants_html:
        return HTMLResponse(render_report(data))
    return Response(orjson.dumps(data), media_type="application/json")
