"""Following the hub: the push stream (Server-Sent Events) for speed, the cursor feed as the
safety net. Catch-up always goes through the feed (large pages, one transaction each); the
stream then carries changes as they happen. When the stream cannot be opened or breaks, the
follower polls the feed every `poll_seconds` and tries the stream again."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
import orjson

from cordon.errors import CordonError

log = logging.getLogger("cordon.node.follower")


class SyncError(CordonError):
    exit_code = 1


class PageSink(Protocol):
    def cursor(self) -> str | None: ...

    def apply_page(self, entries: list[Mapping[str, Any]], cursor: str) -> int: ...


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


class HubFollower:
    def __init__(self, hub_url: str, token: str, sink: PageSink, *,
                 poll_seconds: float = 5.0, page_size: int = 2000,
                 idle_timeout: float = 30.0, use_stream: bool = True) -> None:
        if not hub_url.startswith(("http://", "https://")):
            raise CordonError(f"{hub_url!r} is not a hub address (e.g. http://127.0.0.1:8700)")
        if not token:
            raise CordonError("no hub token: pass --token or set CORDON_HUB_TOKEN")
        self.hub_url = hub_url.rstrip("/")
        self.sink = sink
        self.poll_seconds = poll_seconds
        self.page_size = page_size
        # The hub sends a heartbeat every few seconds: silence this long means a dead link.
        self.idle_timeout = idle_timeout
        self.use_stream = use_stream
        self.status = FollowStatus()
        self._headers = {"Authorization": f"Bearer {token}"}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._response: httpx.Response | None = None

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

    # --- the push stream ---------------------------------------------------------------------
    def _follow_stream(self, http: httpx.Client) -> None:
        """Apply stream events until the stream ends, fails or the follower stops."""
        cursor = self.sink.cursor()
        params = {"cursor": cursor} if cursor else {}
        timeout = httpx.Timeout(10.0, read=self.idle_timeout)
        with http.stream("GET", "/v1/stream", params=params, timeout=timeout) as response:
            if response.status_code != 200:
                raise SyncError(f"the hub stream answered {response.status_code}")
            self._response = response
            self.status.mode = "stream"
            try:
                for event, data, event_id in _sse_events(response.iter_lines()):
                    if self._stop.is_set():
                        return
                    if event != "entry" or event_id is None:
                        continue
                    entry = orjson.loads(data)
                    self.status.applied += self.sink.apply_page([entry], event_id)
                    self.status.last_sync = time.time()
            finally:
                self._response = None

    # --- the background loop -----------------------------------------------------------------
    def run(self, on_error: Callable[[str], None] | None = None) -> None:
        with httpx.Client(base_url=self.hub_url, headers=self._headers, timeout=30) as http:
            while not self._stop.is_set():
                try:
                    self.catch_up(http)
                    if self.use_stream:
                        self._follow_stream(http)
                except (SyncError, httpx.HTTPError, ValueError, KeyError) as exc:
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
                self._stop.wait(self.poll_seconds)
        self.status.mode = "stopped"

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="cordon-hub-follower",
                                        daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        response = self._response
        if response is not None:
            # Unblocks a read waiting on an idle stream.
            # Closing from another thread may race with the reader: either way it stops.
            with contextlib.suppress(Exception):
                response.close()
        if self._thread is not None:
            self._thread.join(timeout)
