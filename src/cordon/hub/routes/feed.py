"""Following the hub: the cursor feed and the push stream (Server-Sent Events)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from sse_starlette import EventSourceResponse, ServerSentEvent

from cordon.hub import cursor as cursors
from cordon.hub.deps import Client, HubDep, Member
from cordon.hub.fanout import Fanout
from cordon.hub.priority import PriorityReader, only_priority
from cordon.hub.schemas import FeedOut
from cordon.hub.service import entry_json

router = APIRouter(tags=["follow"])
STREAM_PAGE = 1000


@router.get("/v1/feed", response_model=FeedOut)
async def feed(
    request: Request, member: Member, hub: HubDep, client: Client,
    cursor: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int | None, Query(ge=1)] = None,
    skip_disputed: bool = False,
) -> Response:
    """Changes after `cursor` (none: from the beginning) in the banks the caller may see:
    new entries, withdrawals (tombstones) and feedback changes, each entry in its latest
    state. Keep the returned cursor; a follower that does never misses a change."""
    settings = request.app.state.settings
    after = cursors.decode(cursor)
    count = min(limit or settings.default_feed_limit, settings.max_feed_limit)
    page = await run_in_threadpool(hub.feed, member, after, count, skip_disputed)
    # The audit record's commit (a disk flush) and the building of the page's JSON overlap;
    # the page is answered only once both are done.
    audit = asyncio.ensure_future(run_in_threadpool(
        hub.audit, member, "feed.read", None, client,
        {"after": after, "returned": len(page.rows)}))
    try:
        # orjson, straight from the rows: the page is plain data, and building it is most
        # of the hub's work for a 10,000-entry page.
        body = await run_in_threadpool(page.body)
    finally:
        await audit
    request.app.state.metrics.feed_entries.inc(len(page.rows))
    return Response(body, media_type="application/json")


@router.get("/v1/stream", response_class=EventSourceResponse,
            responses={200: {"content": {"text/event-stream": {}}}})
async def stream(
    request: Request, member: Member, hub: HubDep, client: Client,
    cursor: Annotated[str | None, Query(max_length=100)] = None,
    skip_disputed: bool = False,
    last_event_id: Annotated[str | None, Header(max_length=100)] = None,
    priority: Literal["interleave", "only", "skip"] = "interleave",
) -> EventSourceResponse:
    """The feed pushed as it happens: one `entry` event per change, its id the cursor after
    it. Reconnect with `Last-Event-ID` (or `cursor`) to resume; comments every few seconds
    keep idle connections open.

    Incident entries (event `priority`) and incident changes (event `incident`) come ahead
    of any backlog, without an id; `priority=only` gives a stream of just those, `skip` one
    without them."""
    settings = request.app.state.settings
    if priority == "only":
        return await only_priority(request, member, hub, client)
    after = cursors.decode(last_event_id if last_event_id else cursor)
    # Fails here, as a plain HTTP error, for a cursor from the future.
    first = await run_in_threadpool(hub.feed, member, after, STREAM_PAGE, skip_disputed)
    await run_in_threadpool(hub.audit, member, "stream.open", None, client, {"after": after})
    metrics = request.app.state.metrics
    fanout: Fanout = request.app.state.fanout
    urgent = (PriorityReader(request.app.state.priority, hub, member)
              if priority == "interleave" else None)
    opening = (await run_in_threadpool(hub.incidents.public)) if urgent is not None else []

    async def events() -> AsyncIterator[ServerSentEvent]:
        position = cursors.decode(first.cursor)
        # Banks this follower may see, asked again when the banks' sharing version moves (a
        # bank created, or its sharing changed: `PATCH /v1/banks/{bank}`).
        visible: set[int] | None = None
        sharing: int | None = None
        metrics.stream_followers.inc()
        try:
            for incident in opening:
                yield ServerSentEvent(data=orjson.dumps(incident).decode(), event="incident")
            for entry in first.entries:
                if urgent is not None and urgent.pending:
                    for event in await urgent.events():
                        yield event
                yield ServerSentEvent(data=orjson.dumps(entry).decode(), event="entry",
                                      id=entry["change"])
            metrics.stream_entries.inc(len(first.entries))
            # Taken before each read and waited on after it: a commit during the read sets
            # it, so no commit is left for the poll to find.
            wake = hub.notifier.current()
            while True:
                if urgent is not None:
                    for event in await urgent.events():
                        yield event
                page = await fanout.page(position, STREAM_PAGE, wake)
                if member.role != "admin" and page.rows and page.sharing != sharing:
                    visible = await run_in_threadpool(hub.visible_banks, member)
                    sharing = page.sharing
                events = page.events(visible, skip_disputed, entry_json)
                for change, data in events:
                    if urgent is not None and urgent.pending:
                        for event in await urgent.events():
                            yield event
                    yield ServerSentEvent(data=data, event="entry", id=change)
                metrics.stream_entries.inc(len(events))
                position = page.cursor
                if not page.more and not (urgent is not None and urgent.pending):
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(wake.wait(), settings.stream_poll_seconds)
                wake = hub.notifier.current()
        finally:
            metrics.stream_followers.dec()
            if urgent is not None:
                urgent.close()

    return EventSourceResponse(events(), ping=settings.heartbeat_seconds,
                               headers={"Cache-Control": "no-store"})
