"""Live streams watched by the node (`/v1/streams`): one `cordon.live.Monitor` per node
process, fed with every live banked vPDQ frame and PDQ image of the node, and its events
turned into the node's own records.

- A stream URL is checked before anything starts: streaming protocols only (no local files,
  no listening modes), and every address its host resolves to must be public or inside
  `stream_allow_networks` (the same address checks as URL fetches).
- The monitor's capacity (`stream_max`) is checked under one lock, so a burst of start
  requests starts exactly as many streams as there is room for and refuses the rest (503).
- An alert goes through the node's rules (a rule may ask to `cut` the stream), is recorded in
  the match log, and is delivered as a `live_match` webhook event, like its progress and
  `lost` events: to every webhook subscribed to `live_match` and to the stream's own webhook.
- The monitor's index is built when the first stream starts, and rebuilt whenever the node's
  indexed entries change while streams are watched (a hub entry mirrored during an incident,
  a withdrawal), so a stream already being watched is matched against the new fingerprints
  too; a node that watches no stream does not pay for it (a bulk import, a catch-up).

Streams are kept in the node's store (`node_streams`): a node stopped for an upgrade or
after a crash watches them again when it starts (in its leading process, with `--workers`),
under the same ids; a stream that ended, failed or was stopped through the API is not resumed.
While it runs, a stream lives in the process that started it.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson
from sqlalchemy import delete, insert, select, update

from cordon.errors import CordonError
from cordon.live import (
    CapacityError,
    Event,
    LiveIndex,
    MatchEvent,
    Monitor,
    MonitorConfig,
    ReaderConfig,
    StatusEvent,
    StreamState,
    index_from_banks,
)
from cordon.node.fetch import FetchRefused, check_host
from cordon.node.rules import _label_matches, evaluate
from cordon.node.service import Node, NodeError
from cordon.store.models import node_matches, node_outbox, node_webhooks
from cordon.store.stream_models import node_streams
from cordon.store.types import utcnow

log = logging.getLogger("cordon.node.streams")

# What a node accepts from API callers: network protocols that FFmpeg reads as a client.
# (`tcp`, `udp` and `rtp` are left out: their URLs can make FFmpeg listen on a local port.)
SCHEMES = ("rtmp", "rtmps", "http", "https", "srt", "rtsp", "rtsps")
_DEFAULT_PORTS = {"rtmp": 1935, "rtmps": 443, "http": 80, "https": 443, "rtsp": 554,
                  "rtsps": 322}
# Events kept per stream for `GET /v1/streams/{id}/events`.
_LOG_SIZE = 1000
# Seconds a stream removed by DELETE may take to close before the answer is sent (one still
# connecting ends by itself within the open timeout, counted against the capacity until then).
_STOP_TIMEOUT = 1.0


class StreamRefused(NodeError):
    status = 422


class StreamCapacity(NodeError):
    status = 503


class NoStream(NodeError):
    status = 404


def check_stream_url(url: str, allowed: Sequence[str]) -> str:
    """The URL to open, or StreamRefused with the reason."""
    text = url.strip()
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise StreamRefused(f"unsupported stream protocol {scheme or 'none'!r} "
                            f"(supported: {', '.join(SCHEMES)})")
    host = parts.hostname
    if not host:
        raise StreamRefused("the stream URL names no host")
    try:
        port = parts.port or _DEFAULT_PORTS.get(scheme)
    except ValueError:
        raise StreamRefused("the stream URL has an invalid port") from None
    options = {key.lower(): value.lower() for key, value in parse_qsl(parts.query)}
    if "listen" in options or options.get("mode") in ("listener", "rendezvous"):
        raise StreamRefused("the node connects to streams; it does not listen for them")
    try:
        check_host(host, port, allowed, refusal="such streams are not watched")
    except FetchRefused as exc:
        raise StreamRefused(str(exc)) from None
    return text


@dataclass
class _Watched:
    id: str
    url: str
    labels: tuple[str, ...]
    webhook: int | None
    started_at: datetime
    resumed_at: datetime | None = None
    log: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=_LOG_SIZE))
    seq: int = 0
    # local entry id -> what the stream has shown of it
    matches: dict[int, dict[str, Any]] = field(default_factory=dict)

    def wants(self, labels: Sequence[str]) -> bool:
        return not self.labels or any(_label_matches(p, labels) for p in self.labels)


class StreamService:
    def __init__(self, node: Node) -> None:
        self.node = node
        settings = node.settings
        self.config = MonitorConfig(
            reader=ReaderConfig(fps=settings.stream_fps, open_timeout=settings.stream_timeout,
                                read_timeout=settings.stream_timeout),
            max_streams=settings.stream_max,
            max_reconnects=settings.stream_max_reconnects,
            # The service checked the address itself (with the node's allowed networks).
            allow_private=True,
            allow_files=False,
        )
        self._lock = threading.Lock()
        self._streams: dict[str, _Watched] = {}
        self._monitor: Monitor | None = None
        self._dirty = threading.Event()
        # The index no longer holds what the banks hold; rebuilt before the next use.
        self._stale = True
        self._index_lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # --- lifecycle -------------------------------------------------------------------------
    def start(self, leading: threading.Event | None = None) -> None:
        """Start the monitor, and resume the stored streams once this process leads (at once
        when `leading` is None)."""
        self._monitor = Monitor(LiveIndex(), self.config)
        self.node.on_change.append(self._entries_changed)
        for target, name in ((self._dispatch, "cordon-streams-events"),
                             (self._refresh, "cordon-streams-index")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        thread = threading.Thread(target=self._resume_when_leading, args=(leading,),
                                  name="cordon-streams-resume", daemon=True)
        thread.start()
        self._threads.append(thread)
        self._resumer = thread

    def _resume_when_leading(self, leading: threading.Event | None) -> None:
        while leading is not None and not leading.wait(0.5):
            if self._stop.is_set():
                return
        if not self._stop.is_set():
            self.resume()

    def resume(self) -> list[str]:
        """Watch again every stored stream that has not ended; returns their ids. A stream
        that cannot be started again (its URL is now refused, the capacity is lower) is
        ended with the reason, so it is not tried at every start."""
        with self.node.store.read() as conn:
            rows = conn.execute(select(node_streams).where(node_streams.c.ended_at.is_(None))
                                .order_by(node_streams.c.id)).all()
        resumed: list[str] = []
        for row in rows:
            stream_id = f"s{row.id}"
            if stream_id in self._streams:
                continue
            try:
                # The node's allowed networks may have changed since the stream was started.
                check_stream_url(row.url, self.node.settings.stream_allow_networks)
                self._watch(row.id, row.url, tuple(row.labels or ()), row.webhook_id,
                            row.started_at, resumed=True)
            except (StreamRefused, StreamCapacity) as exc:
                log.warning("stream %s (%s) not resumed: %s", stream_id, row.url, exc)
                self._end(row.id, "error", f"not resumed after a restart: {exc}")
                continue
            except CordonError as exc:  # e.g. the monitor is closing: try at the next start
                log.warning("stream %s (%s) not resumed: %s", stream_id, row.url, exc)
                continue
            resumed.append(stream_id)
        if resumed:
            log.info("resumed %d live stream(s): %s", len(resumed), ", ".join(resumed))
        return resumed

    def _end(self, row_id: int, state: str, message: str) -> None:
        with self.node.plain_write() as conn:
            conn.execute(update(node_streams).where(node_streams.c.id == row_id,
                                                    node_streams.c.ended_at.is_(None))
                         .values(ended_at=utcnow(), end_state=state[:16],
                                 end_message=message))

    def stop(self) -> None:
        self._stop.set()
        self._dirty.set()
        if self._entries_changed in self.node.on_change:
            self.node.on_change.remove(self._entries_changed)
        if self._monitor is not None:
            self._monitor.close()
        for thread in self._threads:
            thread.join(5)

    @property
    def monitor(self) -> Monitor:
        if self._monitor is None:
            raise NodeError("live streams are not running", 503)
        return self._monitor

    # --- requests --------------------------------------------------------------------------
    def add(self, url: str, labels: Sequence[str], webhook: int | None) -> dict[str, Any]:
        monitor = self.monitor
        target = check_stream_url(url, self.node.settings.stream_allow_networks)
        if webhook is not None:
            with self.node.store.read() as conn:
                found = conn.execute(select(node_webhooks.c.id).where(
                    node_webhooks.c.id == webhook,
                    node_webhooks.c.deleted_at.is_(None))).scalar_one_or_none()
            if found is None:
                raise StreamRefused(f"no webhook with id {webhook}")
        with self._lock:
            try:
                monitor.check_capacity()
            except CapacityError as exc:
                raise StreamCapacity(f"{exc}; stop a stream or raise the node's stream "
                                     "capacity") from None
        started = utcnow()
        with self.node.plain_write() as conn:
            row_id = conn.execute(insert(node_streams).values(
                url=target, labels=list(labels), webhook_id=webhook, started_at=started)
                .returning(node_streams.c.id)).scalar_one()
        try:
            stream_id = self._watch(row_id, target, tuple(labels), webhook, started)
        except BaseException:
            # Refused or failed to start: nothing is watched, so nothing is kept.
            with self.node.plain_write() as conn:
                conn.execute(delete(node_streams).where(node_streams.c.id == row_id))
            raise
        return self.get(stream_id)

    def _watch(self, row_id: int, url: str, labels: tuple[str, ...], webhook: int | None,
               started: datetime, resumed: bool = False) -> str:
        monitor = self.monitor
        if self._stale:
            self._rebuild()
        stream_id = f"s{row_id}"
        with self._lock:
            try:
                monitor.start(url, stream_id=stream_id)
            except CapacityError as exc:
                raise StreamCapacity(f"{exc}; stop a stream or raise the node's stream "
                                     "capacity") from None
            except CordonError as exc:
                raise StreamRefused(str(exc)) from None
            self._streams[stream_id] = _Watched(stream_id, url, labels, webhook, started,
                                                utcnow() if resumed else None)
        return stream_id

    def list(self) -> list[dict[str, Any]]:
        return [self.get(stream_id) for stream_id in list(self._streams)]

    def _watched(self, stream_id: str) -> _Watched:
        watched = self._streams.get(stream_id)
        if watched is None:
            raise NoStream(f"no stream with id {stream_id!r}")
        return watched

    def get(self, stream_id: str) -> dict[str, Any]:
        watched = self._watched(stream_id)
        try:
            status = self.monitor.stream(stream_id).to_json()
        except CordonError:
            raise NoStream(f"no stream with id {stream_id!r}") from None
        status.pop("matched_entries", None)
        with self._lock:
            matches = sorted(watched.matches.values(), key=lambda m: m["detected_at"])
        return {**status, "stalled": status["state"] == StreamState.STALLED.value,
                "labels": list(watched.labels), "webhook": watched.webhook,
                "started_at": watched.started_at.isoformat(),
                "resumed_at": watched.resumed_at.isoformat() if watched.resumed_at else None,
                "matches": matches}

    def events(self, stream_id: str, after: int = 0, limit: int = 100) -> dict[str, Any]:
        watched = self._watched(stream_id)
        with self._lock:
            items = [e for e in watched.log if e["seq"] > after][:limit]
            last = watched.seq
        return {"events": items, "last": last}

    def remove(self, stream_id: str) -> None:
        self._watched(stream_id)
        self.monitor.forget(stream_id, _STOP_TIMEOUT)
        with self._lock:
            self._streams.pop(stream_id, None)
        self._end(int(stream_id[1:]), StreamState.STOPPED.value, "stopped through the API")

    # --- monitor events --------------------------------------------------------------------
    def _dispatch(self) -> None:
        monitor = self.monitor
        while not self._stop.is_set():
            try:
                event = monitor.events.get(timeout=0.2)
            except queue.Empty:
                continue
            try:
                self._handle(event)
            except Exception:  # one event that cannot be recorded must not stop the others
                log.exception("live stream event %r was not handled", event)

    def _handle(self, event: Event) -> None:
        with self._lock:  # `add` registers a stream under this lock as it starts it
            watched = self._streams.get(event.stream_id)
        if watched is None:
            return  # removed meanwhile
        if isinstance(event, StatusEvent):
            # STOPPED is either a DELETE (recorded there) or the node shutting down, after
            # which the stream is to be watched again.
            if event.state in (StreamState.ENDED, StreamState.ERROR):
                self._end(int(watched.id[1:]), event.state.value, event.message)
            self._append(watched, event.to_json())
            return
        info = self.node._entries_info({event.entry_id}).get(event.entry_id)
        if info is None or not watched.wants(info["labels"]):
            return  # withdrawn meanwhile, or not what this stream is watched for
        data = event.to_json()
        item: dict[str, Any] = {
            "event": data.pop("event"), "stream": watched.url, "stream_id": watched.id,
            "stream_seconds": data.pop("stream_seconds"),
            "detected_at": data.pop("detected_at"), "bank": info["bank"],
            "entry": info["entry"], "origin": info["origin"],
            "local_entry": info["local_entry"], "signal_type": data.pop("signal_type"),
            "distance": data.pop("distance"), "labels": info["labels"],
            "ref_seconds": data.pop("ref_seconds"), "seen_seconds": data["seen_seconds"],
            "hits": data["hits"], "incident": info["incident"],
        }
        actions: list[dict[str, Any]] = []
        rule_ids: list[int] = []
        if event.kind == "alert":
            per_match, actions = evaluate(self.node.rules(), [item])
            rule_ids = per_match[0]
        item["actions"] = actions
        self._deliver(watched, event, item, rule_ids)
        with self._lock:
            summary = watched.matches.setdefault(event.entry_id, {
                "bank": item["bank"], "entry": item["entry"], "origin": item["origin"],
                "labels": item["labels"], "signal_type": item["signal_type"],
                "detected_at": item["detected_at"], "stream_seconds": item["stream_seconds"],
                "match_id": item.get("match_id"), "actions": [a["action"] for a in actions]})
            summary["seen_seconds"] = item["seen_seconds"]
            summary["lost"] = event.kind == "lost"
        self._append(watched, item)

    def _append(self, watched: _Watched, item: dict[str, Any]) -> None:
        with self._lock:
            watched.seq += 1
            watched.log.append({"seq": watched.seq, **item})

    def _deliver(self, watched: _Watched, event: MatchEvent, item: dict[str, Any],
                 rule_ids: list[int]) -> None:
        """Record an alert in the match log and queue the `live_match` deliveries, in one
        transaction."""
        now = utcnow()
        stream = {"id": watched.id, "url": watched.url, "labels": list(watched.labels)}
        with self.node.plain_write() as conn:
            if event.kind == "alert":
                item["match_id"] = conn.execute(insert(node_matches).values(
                    at=now, source=f"stream {watched.id} {watched.url}",
                    entry_id=item["local_entry"],
                    hub_entry_id=item["entry"] if item["origin"] == "hub" else None,
                    bank=item["bank"], signal_type=item["signal_type"],
                    distance=float(item["distance"]),
                    query=orjson.dumps({"stream": stream, **item}).decode(),
                    rules=rule_ids, actions=[a["action"] for a in item["actions"]])
                    .returning(node_matches.c.id)).scalar_one()
            hooks = conn.execute(select(node_webhooks.c.id, node_webhooks.c.events).where(
                node_webhooks.c.deleted_at.is_(None))).all()
            targets = [h.id for h in hooks
                       if "live_match" in (h.events or []) or h.id == watched.webhook]
            if not targets:
                return
            body = orjson.dumps({"event": "live_match", "kind": event.kind,
                                 "at": now.isoformat(), "stream": stream,
                                 "match": item, "actions": item["actions"]}).decode()
            for hook_id in targets:
                conn.execute(insert(node_outbox).values(
                    webhook_id=hook_id, event="live_match", body=body, created_at=now,
                    attempts=0, next_attempt_at=now, status="pending"))
        self.node.outbox_ready.set()

    # --- index -----------------------------------------------------------------------------
    def _entries_changed(self) -> None:
        self._stale = True
        if self._monitor is not None and self._monitor.running:
            self._dirty.set()

    def _rebuild(self) -> None:
        with self._index_lock:
            if not self._stale:
                return  # another caller rebuilt it meanwhile
            # Cleared before reading: a change during the read makes it stale again.
            self._stale = False
            try:
                self.monitor.index = index_from_banks(self.node.banks)
            except CordonError:
                self._stale = True
                raise

    def _refresh(self) -> None:
        while not self._stop.is_set():
            self._dirty.wait()
            if self._stop.is_set():
                return
            # Changes come in bursts (a feed page): rebuild once for the burst.
            self._stop.wait(0.1)
            self._dirty.clear()
            try:
                self._rebuild()
            except CordonError as exc:  # the store is busy: try again on the next change
                log.warning("live index not refreshed: %s", exc)
                self._dirty.set()
                self._stop.wait(1.0)
