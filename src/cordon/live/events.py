"""What a monitor reports: match events (alert, progress, lost) and stream status changes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from typing import Any


def now_utc() -> datetime:
    return datetime.now(UTC)


class StreamState(Enum):
    CONNECTING = "connecting"
    LIVE = "live"
    STALLED = "stalled"
    RECONNECTING = "reconnecting"
    ENDED = "ended"
    ERROR = "error"
    STOPPED = "stopped"

    @property
    def finished(self) -> bool:
        return self in (StreamState.ENDED, StreamState.ERROR, StreamState.STOPPED)


@dataclass(frozen=True)
class MatchEvent:
    """`alert`: the stream shows a banked entry (once per stream and entry); `progress`: more
    of it has been seen since; `lost`: it has not been seen for a while."""

    kind: str
    stream: str
    stream_id: str
    stream_seconds: float
    entry_id: int
    signal_type: str
    distance: int
    # Where in the banked video the stream is (None for a banked image).
    ref_seconds: float | None
    # How much of the banked content the stream has shown so far (seconds).
    seen_seconds: float
    # Sampled frames of the stream that matched the entry so far.
    hits: int
    detected_at: datetime = field(default_factory=now_utc)
    # Seconds from the arrival of the frame that completed the evidence to this event.
    processing_seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "event": self.kind,
            "stream": self.stream,
            "stream_id": self.stream_id,
            "stream_seconds": round(self.stream_seconds, 3),
            "detected_at": self.detected_at.isoformat(),
            "entry": self.entry_id,
            "signal_type": self.signal_type,
            "distance": self.distance,
            "ref_seconds": None if self.ref_seconds is None else round(self.ref_seconds, 3),
            "seen_seconds": round(self.seen_seconds, 1),
            "hits": self.hits,
        }


@dataclass(frozen=True)
class StatusEvent:
    """A stream changed state (connected, stalled, resumed, reconnecting, ended, error...)."""

    kind: str
    stream: str
    stream_id: str
    state: StreamState
    message: str
    stream_seconds: float = 0.0
    at: datetime = field(default_factory=now_utc)

    def to_json(self) -> dict[str, Any]:
        return {
            "event": self.kind,
            "stream": self.stream,
            "stream_id": self.stream_id,
            "state": self.state.value,
            "message": self.message,
            "stream_seconds": round(self.stream_seconds, 3),
            "at": self.at.isoformat(),
        }


Event = MatchEvent | StatusEvent
