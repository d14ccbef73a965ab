"""Liveness, readiness, metrics and the follower's state (no token needed for the first
three)."""

from __future__ import annotations

import math
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from cordon.node.deps import Caller, NodeDep
from cordon.node.service import NodeError

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process answers."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    """The database answers, its schema is current and the indexes are loaded."""
    node = request.app.state.node

    problem = await run_in_threadpool(node.store.readiness_problem)
    if problem is None and not request.app.state.loaded.is_set():
        problem = "the indexes are still loading"
    if problem is not None:
        return JSONResponse({"status": "unavailable", "detail": problem}, status_code=503)
    return JSONResponse({"status": "ready"})


@router.get("/metrics", response_class=Response)
def metrics(request: Request) -> Response:
    """Prometheus metrics of this process."""
    request.app.state.metrics.refresh(request.app.state.node, request.app.state.follower)
    return Response(generate_latest(request.app.state.metrics.registry),
                    media_type=CONTENT_TYPE_LATEST)


@router.get("/v1/status")
async def status(request: Request, node: NodeDep, _caller: Caller) -> dict[str, Any]:
    """What is indexed, the hub cursor and how the hub is followed."""
    stats = await run_in_threadpool(node.stats)
    follower = request.app.state.follower
    if follower is not None:
        s = follower.status
        stats["follow"] = {"hub": follower.hub_url, "mode": s.mode, "last_sync": s.last_sync,
                           "last_error": s.last_error, "applied": s.applied,
                           "lag_seconds": follower.lag.last_lag,
                           "seconds_since_contact": follower.lag.seconds_since_contact()}
    return stats


@router.get("/v1/status/sync-lag")
async def sync_lag(request: Request, _caller: Caller,
                   minutes: Annotated[int, Query(ge=1, le=24 * 60)] = 60) -> dict[str, Any]:
    """The follower's lag samples of the last `minutes` (one per 10 s, oldest first; the
    history is kept in memory and starts empty with the process)."""
    follower = request.app.state.follower
    if follower is None:
        raise NodeError("this node follows no hub (start it with --hub and --token)", 404)
    history = follower.lag
    keep = math.ceil(minutes * 60 / history.slot_seconds)
    return {"slot_seconds": history.slot_seconds,
            "samples": [s.to_json() for s in history.samples()[-keep:]]}
