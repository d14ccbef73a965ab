"""Liveness, readiness, metrics and the follower's state (no token needed for the first
three)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from cordon.node.deps import Caller, NodeDep

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
                           "last_error": s.last_error, "applied": s.applied}
    return stats
