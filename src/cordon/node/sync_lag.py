"""How far behind the hub this node has been: a bounded in-memory history, one sample per
slot (10 s by default, the last 24 h), kept by the follower as it applies feed pages and
stream events.

The lag of an applied change is the time from the hub's change (the entry's `updated_at`,
which the hub sets with every change it numbers) to its application here: it measures both
a backlog and the delivery delay, on the two machines' clocks (a clock skew shows as lag;
a node clock behind the hub's counts as no lag). A slot in which the hub was heard from but
nothing changed is in step (lag 0); a slot without a word from the hub has no lag figure,
and its seconds since the last contact say how long the silence has lasted.

The history lives in the process only: it starts empty when the node starts."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

SLOT_SECONDS = 10.0
KEEP_SECONDS = 24 * 3600.0


@dataclass(frozen=True)
class LagSample:
    at: float  # the slot's start, seconds since the epoch
    lag_seconds: float | None  # largest lag applied in the slot; None: no word from the hub
    contact_age: float | None  # seconds since the hub was last heard, at the slot's end

    def to_json(self) -> dict[str, Any]:
        return {"at": datetime.fromtimestamp(self.at, UTC).isoformat(),
                "lag_seconds": _round(self.lag_seconds),
                "seconds_since_contact": _round(self.contact_age)}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def change_time(entry: Mapping[str, Any]) -> float | None:
    """When the hub made the change an entry of its feed or stream carries (epoch seconds)."""
    value = entry.get("updated_at")
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    if when.tzinfo is None:  # the hub writes UTC
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


class LagHistory:
    """Thread-safe: the follower's threads write, the web pages and metrics read."""

    def __init__(self, slot_seconds: float = SLOT_SECONDS, keep_seconds: float = KEEP_SECONDS,
                 clock: Callable[[], float] = time.time) -> None:
        self.slot_seconds = slot_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._samples: deque[LagSample] = deque(maxlen=max(1, int(keep_seconds // slot_seconds)))
        self._slot: float | None = None
        self._slot_lag: float | None = None
        self.last_contact: float | None = None
        self.last_lag: float | None = None

    def _sample(self, end: float) -> LagSample:
        assert self._slot is not None
        age = None if self.last_contact is None else max(0.0, end - self.last_contact)
        return LagSample(self._slot, self._slot_lag, age)

    def _roll(self, now: float) -> None:
        """Close every slot that ended before `now`, silent ones too (one sample per slot,
        so that the samples are evenly spaced in time)."""
        slot = now - now % self.slot_seconds
        if self._slot is not None and slot > self._slot:
            # After a silence longer than the history, only the newest slots are kept.
            oldest = slot - self.slot_seconds * self._samples.maxlen  # type: ignore[operator]
            self._samples.append(self._sample(self._slot + self.slot_seconds))
            self._slot_lag = None
            closed = max(self._slot + self.slot_seconds, oldest)
            while closed < slot - self.slot_seconds / 2:
                self._slot = closed
                self._samples.append(self._sample(closed + self.slot_seconds))
                closed += self.slot_seconds
        if self._slot is None or slot > self._slot:
            self._slot = slot

    def contact(self, now: float | None = None) -> None:
        """The hub answered (a feed page, a stream event or heartbeat)."""
        now = self._clock() if now is None else now
        with self._lock:
            self._roll(now)
            self.last_contact = now
            if self._slot_lag is None:
                self._slot_lag = 0.0

    def applied(self, entries: Iterable[Mapping[str, Any]], now: float | None = None) -> None:
        """Changes of the hub were applied: the lag is that of the newest of them."""
        now = self._clock() if now is None else now
        times = [t for t in map(change_time, entries) if t is not None]
        with self._lock:
            self._roll(now)
            self.last_contact = now
            if times:
                lag = max(0.0, now - max(times))
                self.last_lag = lag
                self._slot_lag = max(self._slot_lag or 0.0, lag)
            elif self._slot_lag is None:
                self._slot_lag = 0.0

    def tick(self, now: float | None = None) -> None:
        """Close the slots that have ended (called while the hub is silent)."""
        with self._lock:
            self._roll(self._clock() if now is None else now)

    def samples(self, now: float | None = None) -> list[LagSample]:
        """Every kept sample, oldest first, with the slot in progress last."""
        now = self._clock() if now is None else now
        with self._lock:
            self._roll(now)
            return [*self._samples, self._sample(now)]

    def seconds_since_contact(self, now: float | None = None) -> float | None:
        if self.last_contact is None:
            return None
        return max(0.0, (self._clock() if now is None else now) - self.last_contact)
