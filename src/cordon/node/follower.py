"""Following the hub: the push stream (Server-Sent Events) for speed, the cursor feed as the
safety net. Catch-up always goes through the feed (large pages, one transaction each); the
stream then carries changes as they happen. When the stream cannot be opened or breaks, the
follower polls the feed every `poll_seconds` and tries the stream again.

Incidents ride beside the cursor: with incident handlers set, every catch-up is followed by
a read of the hub's incident list, and a second connection (`/v1/stream?priority=only`)
carries incident changes and incident entries as they happen, whatever backlog the cursor
still has to read."""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
import orjson

from cordon.errors import CordonError
from cordon.node.sync_lag import LagHistory

log = logging.getLogger("cordon.node.follower")


class SyncError(CordonError):
    exit_code = 1


class PageSink(Protocol):
    def cursor(self) -> str | None: ...

    def apply_page(self, entries: list[Mapping[str, Any]], cursor: str) -> int: ...


class _Gate:
    """Lets urgent writes (incident events and entries) in ahead of catch-up pages.

    SQLite's write lock is not fair: a writer that waits retries on a timer, and the catch-up
    thread, committing page after page, takes the lock again first nearly every time."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._urgent = 0
        self._busy = False

    @contextlib.contextmanager
    def urgent(self) -> Iterator[None]:
        with self._cond:
            self._urgent += 1
            while self._busy:
                self._cond.wait()
            self._busy = True
        try:
            yield
        finally:
            with self._cond:
                self._urgent -= 1
                self._busy = False
                self._cond.notify_all()

    @contextlib.contextmanager
    def ordinary(self) -> Iterator[None]:
        with self._cond:
            while self._busy or self._urgent:
                self._cond.wait()
            self._busy = True
        try:
            yield
        finally:
            with self._cond:
                self._busy = False
                self._cond.notify_all()


class _GatedSink:
    def __init__(self, sink: PageSink, gate: _Gate) -> None:
        self._sink = sink
        self._gate = gate

    def cursor(self) -> str | None:
        return self._sink.cursor()

    def apply_page(self, entries: list[Mapping[str, Any]], cursor: str) -> int:
        with self._gate.ordinary():
            return self._sink.apply_page(entries, cursor)


class IncidentSink(Protocol):
    def apply(self, incident: Mapping[str, Any], *, live: bool = True) -> bool: ...

    def sync(self, incidents: list[Mapping[str, Any]]) -> int: ...


@dataclass
class FollowStatus:
    mode: str = "starting"  # starting | stream | polling | stopped
    last_sync: float | None = None
    last_error: str | None = None
    applied: int = 0


def _sse_events(lines: Iterator[str]) -> Iterator[tuple[str, str, str | None]]:
    """(event, data, id) of each event of a text/event-stream (comments are heartbeats)."""
    event, data, last_id = "message", [], None
    for line in lines:
        if line == "":
            if data:
                yield event, "\n".join(data), last_id
            event, data = "message", []
            continue
        if line.startswith(":"):
            # A heartbeat: handed on so that the reader can notice it should stop.
            yield "heartbeat", "", None
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "event":
            event = value
        elif name == "data":
            data.append(value)
        elif name == "id":
            last_id = value


Event = tuple[str, str, str | None]


def _bursts(events: Iterator[Event], most: int) -> Iterator[list[Event]]:
    """The events in order, grouped: each group is every event that had arrived when the
    previous group was handed on (at most `most`). A reader thread keeps reading meanwhile,
    so a burst of thousands of events is applied in a few transactions, one event alone
    without waiting for company."""
    arrived: queue.Queue[Event | BaseException | None] = queue.Queue()

    def read() -> None:
        try:
            for event in events:
                arrived.put(event)
            arrived.put(None)
        except BaseException as exc:  # handed to the applying thread, which raises it
            arrived.put(exc)

    threading.Thread(target=read, name="cordon-stream-reader", daemon=True).start()
    while True:
        item = arrived.get()
        group: list[Event] = []
        while True:
            if item is None:
                if group:
                    yield group
                return
            if isinstance(item, BaseException):
                if group:
                    yield group
                raise item
            group.append(item)
            if len(group) >= most:
                break
            try:
                item = arrived.get_nowait()
            except queue.Empty:
                break
        yield group


class HubFollower:
    def __init__(self, hub_url: str, token: str, sink: PageSink, *,
                 poll_seconds: float = 5.0, page_size: int = 2000,
                 idle_timeout: float = 30.0, use_stream: bool = True) -> None:
        if not hub_url.startswith(("http://", "https://")):
            raise CordonError(f"{hub_url!r} is not a hub address (e.g. http://127.0.0.1:8700)")
        if not token:
            raise CordonError("no hub token: pass --token or set CORDON_HUB_TOKEN")
        self.hub_url = hub_url.rstrip("/")
        self.gate = _Gate()
        self.sink: PageSink = _GatedSink(sink, self.gate)
        self.poll_seconds = poll_seconds
        self.page_size = page_size
        # The hub sends a heartbeat every few seconds: silence this long means a dead link.
        self.idle_timeout = idle_timeout
        self.use_stream = use_stream
        self.status = FollowStatus()
        # How far behind the hub the node has been (samples of the last 24 h, in memory).
        self.lag = LagHistory()
        self._headers = {"Authorization": f"Bearer {token}"}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._response: httpx.Response | None = None
        # Incidents (cordon.node.incidents) and entries pushed ahead of the cursor.
        self.incidents: IncidentSink | None = None
        self.apply_priority: Callable[[list[Mapping[str, Any]]], int] | None = None
        self._priority_thread: threading.Thread | None = None
        self._priority_response: httpx.Response | None = None

    # --- one catch-up ------------------------------------------------------------------------
    def _read_page(self, http: httpx.Client, cursor: str | None) -> dict[str, Any]:
        params: dict[str, Any] = {"limit": self.page_size}
        if cursor:
            params["cursor"] = cursor
        try:
            response = http.get("/v1/feed", params=params)
        except httpx.HTTPError as exc:
            raise SyncError(f"cannot reach the hub at {self.hub_url}: "
                            f"{exc.__class__.__name__}") from None
        if response.status_code != 200:
            raise SyncError(f"the hub feed answered {response.status_code}: "
                            f"{response.text[:200]}")
        page: dict[str, Any] = orjson.loads(response.content)
        return page

    def catch_up(self, client: httpx.Client | None = None) -> int:
        """Read the feed from the stored cursor to its end; returns the changes applied.

        The next page is read while the current one is applied (the hub and the node's store
        work at the same time); a page is only applied after the one before it was."""
        own = client is None
        http = client or httpx.Client(base_url=self.hub_url, headers=self._headers, timeout=30)
        total = 0
        reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cordon-feed-reader")
        try:
            upcoming: Future[dict[str, Any]] | None = None
            while not self._stop.is_set():
                if upcoming is None:
                    upcoming = reader.submit(self._read_page, http, self.sink.cursor())
                page = upcoming.result()
                upcoming = (reader.submit(self._read_page, http, page["cursor"])
                            if page["more"] else None)
                total += self.sink.apply_page(page["entries"], page["cursor"])
                self.lag.applied(page["entries"])
                if upcoming is None:
                    break
        finally:
            if upcoming is not None:
                upcoming.cancel()
            reader.shutdown(wait=True)
            if own:
                http.close()
        self.status.last_sync = time.time()
        self.status.applied += total
        return total

    def _sync_incidents(self, http: httpx.Client) -> None:
        try:
            response = http.get("/v1/incidents")
        except httpx.HTTPError as exc:
            raise SyncError(f"cannot reach the hub at {self.hub_url}: "
                            f"{exc.__class__.__name__}") from None
        if response.status_code == 404:
            return  # a hub without incidents
        if response.status_code != 200:
            raise SyncError(f"the hub incident list answered {response.status_code}")
        assert self.incidents is not None
        self.incidents.sync(orjson.loads(response.content)["incidents"])

    def _priority_event(self, event: str, data: str) -> bool:
        """Handle an incident or priority event; False for any other event."""
        if event == "incident" and self.incidents is not None:
            with self.gate.urgent():
                self.incidents.apply(orjson.loads(data))
            return True
        if event == "priority" and self.apply_priority is not None:
            with self.gate.urgent():
                entries = orjson.loads(data)
                # An array: the incident entries of one contribution, applied in one write.
                entries = entries if isinstance(entries, list) else [entries]
                self.status.applied += self.apply_priority(entries)
                self.lag.applied(entries)
            return True
        return event in ("incident", "priority")

    def _follow_priority(self, http: httpx.Client) -> None:
        timeout = httpx.Timeout(10.0, read=self.idle_timeout)
        with http.stream("GET", "/v1/stream", params={"priority": "only"},
                         timeout=timeout) as response:
            if response.status_code != 200:
                raise SyncError(f"the hub priority stream answered {response.status_code}")
            self._priority_response = response
            try:
                for event, data, _ in _sse_events(response.iter_lines()):
                    if self._stop.is_set():
                        return
                    self._priority_event(event, data)
            finally:
                self._priority_response = None

    def run_priority(self) -> None:
        """Keep the priority stream open until the follower stops."""
        delay = 0.5
        with httpx.Client(base_url=self.hub_url, headers=self._headers, timeout=30) as http:
            while not self._stop.is_set():
                try:
                    self._follow_priority(http)
                    delay = 0.5
                except (SyncError, httpx.HTTPError, OSError, ValueError, KeyError) as exc:
                    if self._stop.is_set():
                        break  # closed by `stop()`, as in `run()`
                    log.debug("hub priority stream: %s", exc)
                except CordonError as exc:  # e.g. the store is locked
                    log.warning("hub priority stream: %s", exc)
                self._stop.wait(delay)
                delay = min(delay * 2, self.poll_seconds)

    # --- the push stream ---------------------------------------------------------------------
    def _follow_stream(self, http: httpx.Client) -> None:
        """Apply stream events until the stream ends, fails or the follower stops."""
        cursor = self.sink.cursor()
        params = {"cursor": cursor} if cursor else {}
        if self._priority_thread is not None:
            params["priority"] = "skip"  # the priority connection carries them
        timeout = httpx.Timeout(10.0, read=self.idle_timeout)
        with http.stream("GET", "/v1/stream", params=params, timeout=timeout) as response:
            if response.status_code != 200:
                raise SyncError(f"the hub stream answered {response.status_code}")
            self._response = response
            self.status.mode = "stream"
            try:
                for burst in _bursts(_sse_events(response.iter_lines()), self.page_size):
                    if self._stop.is_set():
                        return
                    entries: list[Mapping[str, Any]] = []
                    last_id = None
                    for event, data, event_id in burst:
                        if self._priority_event(event, data):
                            continue
                        if event != "entry" or event_id is None:
                            continue
                        entries.append(orjson.loads(data))
                        last_id = event_id
                    if last_id is not None:
                        # A burst (a large contribution) is one transaction, not one each.
                        self.status.applied += self.sink.apply_page(entries, last_id)
                        self.status.last_sync = time.time()
                        self.lag.applied(entries)
                    else:
                        self.lag.contact()  # a heartbeat: in step with a quiet hub
            finally:
                self._response = None

    # --- the background loop -----------------------------------------------------------------
    def run(self, on_error: Callable[[str], None] | None = None) -> None:
        with httpx.Client(base_url=self.hub_url, headers=self._headers, timeout=30) as http:
            while not self._stop.is_set():
                try:
                    self.catch_up(http)
                    if self.incidents is not None:
                        self._sync_incidents(http)
                    if self.use_stream:
                        self._follow_stream(http)
                except (SyncError, httpx.HTTPError, OSError, ValueError, KeyError) as exc:
                    if self._stop.is_set():
                        # `stop()` closed the stream under its reader: the read fails with
                        # whatever the socket says (EBADF, reset...). That is the way out,
                        # not an error worth a warning.
                        break
                    message = str(exc) or exc.__class__.__name__
                    if message != self.status.last_error:
                        log.warning("hub follow: %s; polling the feed every %.1f s",
                                    message, self.poll_seconds)
                    self.status.last_error = message
                    if on_error is not None:
                        on_error(message)
                except CordonError as exc:  # e.g. the store is locked: try again later
                    log.warning("hub follow: %s", exc)
                    self.status.last_error = str(exc)
                if self._stop.is_set():
                    break
                self.status.mode = "polling"
                self.lag.tick()
                self._stop.wait(self.poll_seconds)
        self.status.mode = "stopped"

    def start(self) -> None:
        if self.use_stream and (self.incidents is not None or self.apply_priority is not None):
            self._priority_thread = threading.Thread(
                target=self.run_priority, name="cordon-hub-priority", daemon=True)
            self._priority_thread.start()
        self._thread = threading.Thread(target=self.run, name="cordon-hub-follower",
                                        daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        for response in (self._response, self._priority_response):
            if response is not None:
                # Unblocks a read waiting on an idle stream.
                # Closing from another thread may race with the reader: either way it stops.
                with contextlib.suppress(Exception):
                    response.close()
        for thread in (self._thread, self._priority_thread):
            if thread is not None:
                thread.join(timeout)
