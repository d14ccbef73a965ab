"""One database read per wake-up for every stream follower of a process.

When a commit wakes the streams, followers that were up to date all ask for the changes
after the same cursor. Each asking on its own costs a handful of queries per follower per
commit (hundreds with 50 followers), and the last follower then waits for all of them.
Instead, followers at the same position that were woken by the same notification share one
read of the changes of every bank, and each keeps the entries of the banks it may see.

A follower may only share a read that began after it took its wake-up event (`key` holds
the event): a read begun earlier might miss the commit that woke it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson
from fastapi.concurrency import run_in_threadpool

from cordon.hub import cursor as cursors
from cordon.store.hub_repository import FeedRow


@dataclass
class SharedPage:
    """Changes of every bank after `after`: at most `limit` rows, in change order."""

    rows: list[FeedRow]
    # The cursor after this page, whatever banks a follower sees.
    cursor: int
    more: bool
    bank_names: dict[int, str]
    contributors: dict[int, str]
    # The event data of each row as every follower sees it, built once in the reader.
    data: list[str]
    # The banks' sharing version when the page was read (`hub_repository.sharing_version`):
    # followers ask again which banks they may see when it moves.
    sharing: int = 0
    _hidden: dict[int, str] = field(default_factory=dict)

    def events(self, visible: set[int] | None, skip_disputed: bool,
               entry_json: Callable[..., dict]) -> list[tuple[str, str]]:
        """(event id, data) of the entries of the banks in `visible` (None: every bank)."""
        out: list[tuple[str, str]] = []
        for index, row in enumerate(self.rows):
            if visible is not None and row.bank_id not in visible:
                continue
            if skip_disputed and row.disputed:
                data = self._hidden.get(index)
                if data is None:
                    entry = entry_json(row, self.bank_names[row.bank_id], self.contributors,
                                       True)
                    data = self._hidden[index] = orjson.dumps(entry).decode()
            else:
                data = self.data[index]
            out.append((cursors.encode(row.change_seq), data))
        return out


class Fanout:
    """Single-flight reads of the shared pages: concurrent asks for the same
    (position, limit, wake-up event) wait for one read."""

    def __init__(self, read: Callable[[int, int], SharedPage]) -> None:
        self._read = read
        self._flights: dict[tuple[int, int, asyncio.Event], asyncio.Future[SharedPage]] = {}

    async def page(self, after: int, limit: int, wake: asyncio.Event) -> SharedPage:
        key = (after, limit, wake)
        flight = self._flights.get(key)
        if flight is None:
            flight = asyncio.ensure_future(run_in_threadpool(self._read, after, limit))
            self._flights[key] = flight
            flight.add_done_callback(lambda _: self._flights.pop(key, None))
        # Shielded: a follower that disconnects does not cancel the read of the others.
        return await asyncio.shield(flight)
