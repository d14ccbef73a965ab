"""Live streams the node watches: state, lag, what matched; admins and the platform's
systems stop watching one."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from cordon.node import roles
from cordon.node.service import NodeError
from cordon.web.auth import CheckedForm, CurrentUser, WebUser, require_role
from cordon.web.mount import NavItem
from cordon.web.templates import redirect, render

Platform = Annotated[WebUser, Depends(require_role(*sorted(roles.PLATFORM)))]
router = APIRouter(prefix="/ui", include_in_schema=False)
NAV = (NavItem("/ui/streams", "Live streams", order=48),)


def _service(request: Request) -> Any:
    service = getattr(request.app.state, "streams", None)
    if service is None:
        raise NodeError("this node does not watch live streams", 404)
    return service


@router.get("/streams", response_class=HTMLResponse)
async def streams(request: Request, user: CurrentUser) -> HTMLResponse:
    service = _service(request)
    rows = await run_in_threadpool(service.list)
    return render(request, "node/streams.html", streams=rows,
                  capacity=service.config.max_streams)


@router.get("/streams/{stream_id}", response_class=HTMLResponse)
async def stream(stream_id: str, request: Request, user: CurrentUser) -> HTMLResponse:
    service = _service(request)

    def load() -> dict[str, Any]:
        return {"stream": service.get(stream_id),
                "events": service.events(stream_id, 0, 1000)["events"][::-1]}

    return render(request, "node/stream.html", **await run_in_threadpool(load))


@router.post("/streams/{stream_id}/stop")
async def stop(stream_id: str, request: Request, user: Platform, form: CheckedForm) -> Response:
    service = _service(request)
    await run_in_threadpool(service.remove, stream_id)
    return redirect("/ui/streams", f"Stopped watching stream {stream_id}.")
