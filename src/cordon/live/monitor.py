"""The live monitor: one object that watches many streams at once.

Each stream runs on its own thread (decoding and PDQ release the GIL, so threads share both
cores), keeps its own state (frames seen, lag behind live, entries matched, stalled / ended /
error) and reports to one event queue. A watchdog thread marks a stream `stalled` when it
stops delivering video frames, whatever FFmpeg is doing; network streams that fail or end
are opened again with exponential backoff, a bounded number of times.

The monitor takes no database: it matches against a `LiveIndex` and reports entry ids; who
runs it (the `cordon watch` command, a node) resolves entries and acts on the events.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import IO, Any

from cordon.errors import CordonError, MediaError
from cordon.live.alerts import AlertRules, AlertTracker, Decision
from cordon.live.events import Event, MatchEvent, StatusEvent, StreamState
from cordon.live.index import LiveIndex
from cordon.live.luma import hash_luma
from cordon.live.reader import ReaderConfig, Sample, StreamClock, StreamEnded, StreamReader
from cordon.live.sources import Source, check_source
from cordon.signals.vpdq import QUALITY_THRESHOLD

logger = logging.getLogger(__name__)

THREAD_PREFIX = "cordon-live"


class CapacityError(CordonError):
    """The monitor already watches as many streams as it is allowed to."""


@dataclass(frozen=True)
class MonitorConfig:
    reader: ReaderConfig = field(default_factory=ReaderConfig)
    rules: AlertRules = field(default_factory=AlertRules)
    max_streams: int = 32
    # No video frame for this long: the stream is reported stalled.
    stall_after: float = 5.0
    # Consecutive failed (re)connections before a network stream is given up.
    max_reconnects: int = 5
    backoff_initial: float = 0.5
    backoff_max: float = 8.0
    # A connection must deliver frames this long before its failure counts as a new one
    # (otherwise a source that replays a few seconds and fails would be retried forever).
    stable_seconds: float = 10.0
    allow_private: bool = False
    allow_files: bool = True


@dataclass(frozen=True)
class StreamStatus:
    id: str
    url: str
    state: StreamState
    message: str
    video: str
    decode_mode: str
    stream_seconds: float
    frames_decoded: int
    frames_hashed: int
    # Seconds the latest frame was decoded later than the stream's pace allows (falling
    # behind live); 0 while the monitor keeps up.
    lag_seconds: float
    reconnects: int
    matched_entries: tuple[int, ...]
    # Times the stream fell so far behind live that it skipped to live (keyframes only).
    catch_ups: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "url": self.url, "state": self.state.value, "message": self.message,
            "video": self.video, "decode_mode": self.decode_mode,
            "stream_seconds": round(self.stream_seconds, 3),
            "frames_decoded": self.frames_decoded, "frames_hashed": self.frames_hashed,
            "lag_seconds": round(self.lag_seconds, 3), "reconnects": self.reconnects,
            "catch_ups": self.catch_ups, "matched_entries": list(self.matched_entries),
        }


class _StreamWorker:
    def __init__(
        self, stream_id: str, source: Source, monitor: Monitor, stdin: IO[bytes] | None
    ) -> None:
        self.id = stream_id
        self.source = source
        self._monitor = monitor
        self._config = monitor.config
        self._stdin = stdin
        self.stop_event = threading.Event()
        self._lock = threading.Lock()
        self.state = StreamState.CONNECTING
        self.message = "connecting"
        self.video = "-"
        self.decode_mode = "-"
        self.clock = StreamClock()
        self.tracker = AlertTracker(
            self._config.rules,
            sample_period=1.0 / self._config.reader.fps if self._config.reader.fps else 1 / 30,
        )
        self.frames_decoded = 0
        self.frames_hashed = 0
        self.reconnects = 0
        self.lag = 0.0
        self._reader: StreamReader | None = None
        self.catch_ups_before = 0
        self._anchor: float | None = None
        self.last_frame = time.monotonic()
        self.thread = threading.Thread(
            target=self._run, name=f"{THREAD_PREFIX}-{stream_id}", daemon=True
        )

    # --- state -----------------------------------------------------------------------------
    def status(self) -> StreamStatus:
        with self._lock:
            return StreamStatus(
                self.id, self.source.url, self.state, self.message, self.video,
                self.decode_mode, self.clock.seconds, self.frames_decoded, self.frames_hashed,
                max(self.lag, self._edge_lag()), self.reconnects, tuple(self.tracker.alerted),
                self.catch_ups_before + (self._reader.catch_ups if self._reader else 0),
            )

    def _edge_lag(self) -> float:
        reader = self._reader
        return reader.edge.lag if reader is not None and reader.edge is not None else 0.0

    def _set(self, state: StreamState, kind: str, message: str) -> None:
        with self._lock:
            if self.state.finished:
                return
            self.state, self.message = state, message
        self._monitor._emit(
            StatusEvent(kind, self.source.url, self.id, state, message, self.clock.seconds)
        )

    def check_stall(self, now: float) -> None:
        if self.state is StreamState.LIVE and now - self.last_frame > self._config.stall_after:
            self._set(StreamState.STALLED, "stalled",
                      f"no video frames for {now - self.last_frame:.0f} s")

    # --- running ---------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            self._follow()
        except Exception as exc:  # a bug must end this stream, not the monitor
            logger.exception("live stream %s failed", self.source.url)
            self._set(StreamState.ERROR, "error", f"internal error: {exc!r}")
        finally:
            self._monitor._finished(self)

    def _follow(self) -> None:
        config = self._config
        failures = 0
        ever_live = False
        while not self.stop_event.is_set():
            reader = StreamReader(self.source, config.reader, self.clock, self.stop_event,
                                  self._stdin)
            self._reader = reader
            live = False
            connected = time.monotonic()
            decoded_before = self.frames_decoded
            try:
                reader.open()
                self.video = reader.describe()
                for sample in reader.samples():
                    self.frames_decoded = decoded_before + reader.frames_decoded
                    self.decode_mode = "catch-up" if reader.catching_up else reader.mode
                    if live and failures and time.monotonic() - connected >= config.stable_seconds:
                        failures = 0
                    if not live:
                        live = ever_live = True
                        self._anchor = None
                        kind = "resumed" if self.reconnects else "started"
                        self._set(StreamState.LIVE, kind, f"receiving {self.video}")
                    self._handle(sample)
                reason, failed = "stopped", False
            except StreamEnded:
                reason, failed = "the stream ended", False
            except MediaError as exc:
                reason, failed = str(exc), True
            finally:
                self.frames_decoded = decoded_before + reader.frames_decoded
                self.catch_ups_before += reader.catch_ups
                self._reader = None
                reader.close()
            if self.stop_event.is_set():
                break
            if not self.source.reconnects:
                if failed:
                    self._set(StreamState.ERROR, "error", reason)
                else:
                    self._set(StreamState.ENDED, "ended", reason)
                return
            failures += 1
            if failures > config.max_reconnects:
                if ever_live:
                    self._set(StreamState.ENDED, "ended",
                              f"{reason}; gave up after {config.max_reconnects} reconnections")
                else:
                    self._set(StreamState.ERROR, "error", reason)
                return
            delay = min(config.backoff_max, config.backoff_initial * 2 ** (failures - 1))
            self.reconnects += 1
            self._set(StreamState.RECONNECTING, "reconnecting",
                      f"{reason}; reconnecting in {delay:g} s "
                      f"(attempt {failures} of {config.max_reconnects})")
            self.stop_event.wait(delay)
        self._set(StreamState.STOPPED, "stopped", "stopped")

    def _handle(self, sample: Sample) -> None:
        now = time.monotonic()
        self.last_frame = now
        base = sample.arrived - sample.stream_seconds
        if self._anchor is None or base < self._anchor:
            self._anchor = base
        self.lag = base - self._anchor
        if self.state is StreamState.STALLED:
            self._set(StreamState.LIVE, "resumed", f"receiving {self.video} again")
        pdq = hash_luma(sample.luma, sample.step)
        self.frames_hashed += 1
        hits = []
        if pdq.quality is not None and pdq.quality >= QUALITY_THRESHOLD:
            hits = self._monitor.index.query([pdq])[0]
        for decision in self.tracker.observe(sample.stream_seconds, hits):
            self._report(decision, sample)

    def _report(self, decision: Decision, sample: Sample) -> None:
        self._monitor._emit(
            MatchEvent(
                decision.kind, self.source.url, self.id, sample.stream_seconds,
                decision.entry_id, decision.signal_type, decision.distance,
                decision.ref_seconds, decision.seen_seconds, decision.hits,
                processing_seconds=time.monotonic() - sample.arrived,
            )
        )


class Monitor:
    """Watches up to `config.max_streams` streams; events go to `events` (a queue)."""

    def __init__(
        self,
        index: LiveIndex,
        config: MonitorConfig | None = None,
        stdin: IO[bytes] | None = None,
    ) -> None:
        self.index = index
        self.config = config or MonitorConfig()
        self.events: queue.Queue[Event] = queue.Queue()
        self._stdin = stdin
        self._lock = threading.Lock()
        self._workers: dict[str, _StreamWorker] = {}
        # Streams forgotten while their thread was still closing.
        self._closing: list[_StreamWorker] = []
        self._ids = itertools.count(1)
        self._closed = threading.Event()
        self._watchdog: threading.Thread | None = None

    # --- control ---------------------------------------------------------------------------
    def start(self, url: str, stream_id: str | None = None) -> str:
        """Start watching `url`; returns the stream id (`stream_id` when given: a node names
        its streams by their stored row, which outlives the process). Raises SourceRefused or
        CapacityError (a clear sentence) without starting anything."""
        if self._closed.is_set():
            raise CordonError("the monitor is closed")
        with self._lock:
            self._check_capacity()
        source = check_source(url, allow_private=self.config.allow_private,
                              allow_files=self.config.allow_files)
        with self._lock:
            # Checked again: the address lookup above runs outside the lock.
            self._check_capacity()
            if source.url == "-" and any(w.source.url == "-" for w in self._active()):
                raise CordonError("standard input is already being watched")
            if stream_id is None:
                stream_id = f"s{next(self._ids)}"
            elif stream_id in self._workers:
                raise CordonError(f"stream {stream_id!r} is already being watched")
            worker = _StreamWorker(stream_id, source, self, self._stdin)
            self._workers[stream_id] = worker
            if self._watchdog is None:
                self._watchdog = threading.Thread(
                    target=self._watch, name=f"{THREAD_PREFIX}-watchdog", daemon=True
                )
                self._watchdog.start()
            worker.thread.start()
        return stream_id

    def _active(self) -> list[_StreamWorker]:
        self._closing = [w for w in self._closing if w.thread.is_alive()]
        return [w for w in self._workers.values()
                if w.thread.is_alive() or not w.state.finished] + self._closing

    def check_capacity(self) -> None:
        """CapacityError when no stream can start now (a cheap refusal before any work)."""
        with self._lock:
            self._check_capacity()

    def _check_capacity(self) -> None:
        active = len(self._active())
        if active >= self.config.max_streams:
            raise CapacityError(
                f"already watching {active} streams, the limit of this monitor "
                f"(max streams {self.config.max_streams})"
            )

    def stop(self, stream_id: str) -> None:
        worker = self._workers.get(stream_id)
        if worker is None:
            raise CordonError(f"no stream {stream_id!r}")
        worker.stop_event.set()

    def forget(self, stream_id: str, timeout: float = 1.0) -> bool:
        """Stop a stream and drop it from the status list; False when its thread was still
        closing after `timeout`. FFmpeg cannot be interrupted while it opens a connection, so
        a stream stopped then ends by itself within the open timeout; until it has, it still
        counts against the capacity."""
        worker = self._workers.get(stream_id)
        if worker is None:
            raise CordonError(f"no stream {stream_id!r}")
        worker.stop_event.set()
        if worker.thread.ident is not None:
            worker.thread.join(timeout)
        with self._lock:
            self._workers.pop(stream_id, None)
            if worker.thread.is_alive():
                self._closing.append(worker)
        return not worker.thread.is_alive()

    def stream(self, stream_id: str) -> StreamStatus:
        worker = self._workers.get(stream_id)
        if worker is None:
            raise CordonError(f"no stream {stream_id!r}")
        return worker.status()

    def close(self, timeout: float = 15.0) -> bool:
        """Stop every stream and the watchdog; True when every thread has ended in time."""
        self._closed.set()
        workers = list(self._workers.values()) + self._closing
        for worker in workers:
            worker.stop_event.set()
        deadline = time.monotonic() + timeout
        for worker in workers:
            if worker.thread.ident is not None:
                worker.thread.join(max(0.0, deadline - time.monotonic()))
        if self._watchdog is not None:
            self._watchdog.join(max(0.0, deadline - time.monotonic()))
        return not any(w.thread.is_alive() for w in workers) and not (
            self._watchdog is not None and self._watchdog.is_alive()
        )

    def __enter__(self) -> Monitor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- state -----------------------------------------------------------------------------
    def status(self) -> list[StreamStatus]:
        return [w.status() for w in list(self._workers.values())]

    @property
    def running(self) -> int:
        return sum(w.thread.is_alive() for w in list(self._workers.values()) + self._closing)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until every started stream has finished; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for worker in list(self._workers.values()):
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            worker.thread.join(left)
            if worker.thread.is_alive():
                return False
        return True

    # --- internals -------------------------------------------------------------------------
    def _emit(self, event: Event) -> None:
        self.events.put(event)

    def _finished(self, worker: _StreamWorker) -> None:
        if not worker.state.finished:
            worker._set(StreamState.STOPPED, "stopped", "stopped")

    def _watch(self) -> None:
        while not self._closed.wait(0.5):
            now = time.monotonic()
            for worker in list(self._workers.values()):
                worker.check_stall(now)
