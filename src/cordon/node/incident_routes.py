"""Incidents learned from the hub, and their crisis mode."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from cordon.node.deps import AdminCaller, Caller
from cordon.node.incidents import NodeIncidents

router = APIRouter(tags=["incidents"])


class CrisisIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Literal["cut", "block", "review", "alert", "log"] = Field(
        default="block", description="What a match of the incident's entries calls for.")
    max_distance: float | None = Field(
        default=None, ge=0, description="Only matches at most this far (a tighter threshold).")


def _incidents(request: Request) -> NodeIncidents:
    return request.app.state.incidents  # type: ignore[no-any-return]


@router.get("/v1/incidents")
async def list_incidents(
    request: Request, _caller: Caller,
    status: Literal["open", "concluded"] | None = None,
) -> dict[str, Any]:
    """Incidents this node learned of, newest first, with when it learned and acknowledged
    them, their crisis mode and the counts reported to the hub."""
    return {"incidents": await run_in_threadpool(_incidents(request).list, status)}


@router.get("/v1/incidents/{incident_id}")
async def get_incident(incident_id: int, request: Request, _caller: Caller) -> dict[str, Any]:
    return await run_in_threadpool(_incidents(request).get, incident_id)


@router.put("/v1/incidents/{incident_id}/crisis")
async def set_crisis(incident_id: int, body: CrisisIn, request: Request,
                     _caller: AdminCaller) -> dict[str, Any]:
    """Crisis mode (admins): while the incident is open, every match of an entry carrying its label
    calls for `action` (e.g. block at upload instead of queueing for review)."""
    return await run_in_threadpool(_incidents(request).set_crisis, incident_id, body.action,
                                   body.max_distance)


@router.delete("/v1/incidents/{incident_id}/crisis")
async def end_crisis(incident_id: int, request: Request, _caller: AdminCaller
                     ) -> dict[str, Any]:
    return await run_in_threadpool(_incidents(request).set_crisis, incident_id, None)
