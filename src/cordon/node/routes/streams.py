"""Live streams: start watching a stream, list streams with their state, read a stream's
events, stop watching. For the platform's systems: tokens with the `admin` or `service`
role."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from cordon.node.routes.moderation import Platform
from cordon.node.streams import StreamService

router = APIRouter(tags=["streams"])


class StreamIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1, max_length=4096,
                     description="rtmp(s)://, http(s):// (HLS, MPEG-TS, HTTP-FLV), srt://, "
                                 "rtsp(s)://")
    labels: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        default_factory=list, max_length=100,
        description="Watch for entries with any of these labels (`family:*` for a family); "
                    "empty: every banked entry.")
    webhook: int | None = Field(default=None, ge=1,
                                description="A node webhook that receives this stream's "
                                            "`live_match` events.")


def _service(request: Request) -> StreamService:
    return request.app.state.streams  # type: ignore[no-any-return]


@router.post("/v1/streams", status_code=201)
async def start_stream(body: StreamIn, request: Request, _who: Platform) -> dict[str, Any]:
    """Start watching a live stream. 422 for a refused URL (protocol, private address,
    unknown webhook), 503 when the node already watches as many streams as it may."""
    service = _service(request)
    return await run_in_threadpool(service.add, body.url, body.labels, body.webhook)


@router.get("/v1/streams")
async def list_streams(request: Request, _who: Platform) -> dict[str, Any]:
    """Every stream with its state: frames decoded and hashed, lag behind live, stalled,
    the entries it matched and how much of each has been seen."""
    service = _service(request)
    return {"streams": await run_in_threadpool(service.list),
            "capacity": service.config.max_streams}


@router.get("/v1/streams/{stream_id}")
async def get_stream(stream_id: str, request: Request, _who: Platform) -> dict[str, Any]:
    return await run_in_threadpool(_service(request).get, stream_id)


@router.get("/v1/streams/{stream_id}/events")
async def stream_events(stream_id: str, request: Request, _who: Platform,
                        after: Annotated[int, Query(ge=0)] = 0,
                        limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> dict[str, Any]:
    """The stream's events after sequence number `after`, oldest first (the last 1000 are
    kept): status changes and `alert` / `progress` / `lost` matches."""
    return await run_in_threadpool(_service(request).events, stream_id, after, limit)


@router.delete("/v1/streams/{stream_id}", status_code=204)
async def stop_stream(stream_id: str, request: Request, _who: Platform) -> None:
    await run_in_threadpool(_service(request).remove, stream_id)
