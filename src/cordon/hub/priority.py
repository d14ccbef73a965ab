"""Pushing incident entries and incident events ahead of any backlog.

A stream delivers changes in cursor order; a follower 100,000 changes behind would get an
incident's hashes only after all of them. So, besides the cursor order, every open stream of
this process gets the incident entries of each contribution (event `priority`, a JSON array
of entries) and each incident change (event `incident`) as soon as they are committed,
before its next ordinary event.

Priority events carry no event id: the follower's cursor (its `Last-Event-ID`) keeps moving
only with the cursor-ordered `entry` events, so the "never miss a change" guarantee of the
feed is untouched. Nodes apply a priority entry by hub entry id and change number, which
makes the later cursor-ordered delivery of the same change a no-op.

Streams connected to another hub process still get the entries in cursor order; the push is
per process.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson
from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import func, select
from sse_starlette import EventSourceResponse, ServerSentEvent

from cordon.hub.service import Hub, entry_json
from cordon.store import hub_repository as hub_repo
from cordon.store.hub_repository import MemberRow
from cordon.store.models import entries


@dataclass(frozen=True)
class PriorityItem:
    event: str  # priority | incident
    data: str
    # The bank of a priority entry (followers see only their banks); None for incidents.
    bank_id: int | None = None


class Subscription:
    def __init__(self) -> None:
        self.items: deque[PriorityItem] = deque()
        # Set when items arrive: what a priority-only stream waits on.
        self.ready = asyncio.Event()


class PriorityBroadcast:
    """Hands items from any thread to every subscribed stream of the event loop."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._subscriptions: set[Subscription] = set()

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def subscribe(self) -> Subscription:
        subscription = Subscription()
        self._subscriptions.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscriptions.discard(subscription)

    def publish(self, items: list[PriorityItem]) -> None:
        """Thread-safe. Call before waking the streams, so that a woken stream finds them."""
        loop = self._loop
        if items and loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._deliver, items)

    def _deliver(self, items: list[PriorityItem]) -> None:
        for subscription in self._subscriptions:
            subscription.items.extend(items)
            subscription.ready.set()


def wire_priority(hub: Hub, broadcast: PriorityBroadcast) -> None:
    """Publish the hub's incident entries and incident changes on `broadcast`, then wake the
    streams (the notifier keeps call order with the broadcast: both go through the loop)."""

    def entries_committed(entry_ids: list[int]) -> None:
        broadcast.publish(incident_entry_items(hub, entry_ids))

    def incident_changed(incident: dict[str, Any]) -> None:
        broadcast.publish([PriorityItem("incident", orjson.dumps(incident).decode())])
        hub.notifier.notify()

    hub.on_incident_entries = entries_committed
    hub.incidents.on_change.append(incident_changed)


def incident_entry_items(hub: Hub, entry_ids: list[int]) -> list[PriorityItem]:
    """Priority items of just-committed entries, in the feed's own JSON shape."""
    if not entry_ids:
        return []
    with hub.store.read() as conn:
        low, high = conn.execute(select(func.min(entries.c.change_seq),
                                        func.max(entries.c.change_seq))
                                 .where(entries.c.id.in_(entry_ids))).one()
        if low is None:
            return []
        wanted = set(entry_ids)
        rows = [r for r in hub_repo.feed_rows(conn, low - 1, high, high - low + 1, None)
                if r.id in wanted]
        bank_names = hub_repo.bank_names(conn)
        contributors = hub_repo.member_names(conn)
    # One event per bank (a contribution writes to one): a node applies it in one write.
    by_bank: dict[int, list[dict[str, Any]]] = {}
    for r in rows:
        by_bank.setdefault(r.bank_id, []).append(
            entry_json(r, bank_names[r.bank_id], contributors, False))
    return [PriorityItem("priority", orjson.dumps(items).decode(), bank_id)
            for bank_id, items in by_bank.items()]


class PriorityReader:
    """The pending priority events of one stream, filtered by what its member may see."""

    def __init__(self, broadcast: PriorityBroadcast, hub: Hub, member: MemberRow) -> None:
        self.broadcast = broadcast
        self.subscription = broadcast.subscribe()
        self.hub = hub
        self.member = member
        self._visible: set[int] | None = None
        self._checked = False

    @property
    def pending(self) -> bool:
        return bool(self.subscription.items)

    def close(self) -> None:
        self.broadcast.unsubscribe(self.subscription)

    async def wait(self, timeout: float) -> None:
        self.subscription.ready.clear()
        if not self.pending:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.subscription.ready.wait(), timeout)

    async def events(self) -> list[ServerSentEvent]:
        out: list[ServerSentEvent] = []
        items = self.subscription.items
        while items:
            item = items.popleft()
            if item.bank_id is not None and not await self._sees(item.bank_id):
                continue
            out.append(ServerSentEvent(data=item.data, event=item.event))
        return out

    async def _sees(self, bank_id: int) -> bool:
        if self.member.role == "admin":
            return True
        if not self._checked or (self._visible is not None and bank_id not in self._visible):
            # Sharing is set when a bank is created: ask again only for a bank not seen yet.
            self._visible = await run_in_threadpool(self.hub.visible_banks, self.member)
            self._checked = True
        return self._visible is None or bank_id in self._visible


async def only_priority(request: Request, member: MemberRow, hub: Hub,
                        client: str | None) -> EventSourceResponse:
    """A stream of incident events and incident entries only: what a follower keeps open
    beside its cursor-ordered catch-up, so that a crisis reaches it whatever its backlog."""
    reader = PriorityReader(request.app.state.priority, hub, member)
    try:
        opening = await run_in_threadpool(hub.incidents.public)
        await run_in_threadpool(hub.audit, member, "stream.open", None, client,
                                {"priority": "only"})
    except BaseException:
        reader.close()
        raise
    settings = request.app.state.settings

    async def events() -> AsyncIterator[ServerSentEvent]:
        try:
            for incident in opening:
                yield ServerSentEvent(data=orjson.dumps(incident).decode(), event="incident")
            while True:
                for event in await reader.events():
                    yield event
                await reader.wait(settings.stream_poll_seconds)
        finally:
            reader.close()

    return EventSourceResponse(events(), ping=settings.heartbeat_seconds,
                               headers={"Cache-Control": "no-store"})
