"""From frame hits to alerts: the per-stream state machine.

One sampled frame that lands within 31 bits of a banked frame proves little (flat scenes,
title cards and test patterns collide), so an entry is only reported once a short run of
hits agrees: at least `min_hits` sampled frames whose banked times advance with the stream
(the offset `ref_seconds - stream_seconds` stays within `tolerance`). Content that does not
move (a banked video of a still, or a banked image) has no advancing time, so it needs
`static_hits` frames spanning at least `static_span` seconds of the stream instead.

After the alert the entry stays flagged for the stream (one alert per stream and entry) and
every further hit adds to how much of the banked content has been seen; progress events
carry that figure at most every `update_interval` seconds of stream time, and a `lost` event
says when the entry has not been seen for `lost_after` seconds.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from cordon.live.index import FrameHit

# Reference times are compared on this grid (finer than any vPDQ sampling period).
_GRID = 0.05


@dataclass(frozen=True)
class AlertRules:
    min_hits: int = 2
    static_hits: int = 4
    static_span: float = 1.0
    # Seconds of stream time within which the hits of one run must fall.
    window: float = 8.0
    # Allowed drift of the ref/stream offset between hits of one run (seconds). Every decoded
    # frame is hashed, so hits land within a frame or two of their banked instants.
    tolerance: float = 0.5
    update_interval: float = 10.0
    lost_after: float = 30.0


@dataclass(frozen=True)
class Decision:
    kind: str  # "alert", "progress" or "lost"
    entry_id: int
    signal_type: str
    distance: int
    ref_seconds: float | None
    seen_seconds: float
    hits: int


@dataclass
class _EntryState:
    signal_type: str
    # Recent hit frames: (stream seconds, [(ref seconds or None, distance)]).
    recent: deque[tuple[float, list[tuple[float | None, int]]]] = field(default_factory=deque)
    alerted: bool = False
    lost: bool = False
    offset: float | None = None
    best: int = 256
    hits: int = 0
    seen_refs: set[int] = field(default_factory=set)
    period: float = 0.0
    shown: float = 0.0
    last_hit: float = 0.0
    last_update: float = 0.0
    seen_at_update: float = 0.0

    def seen_seconds(self) -> float:
        if self.period > 0:
            return len(self.seen_refs) * self.period
        return self.shown


class AlertTracker:
    """Hits of one stream in, alert/progress/lost decisions out. Not thread-safe: one per
    stream worker."""

    def __init__(self, rules: AlertRules | None = None, sample_period: float = 0.5) -> None:
        self.rules = rules or AlertRules()
        self.sample_period = sample_period
        self._entries: dict[int, _EntryState] = {}

    @property
    def alerted(self) -> list[int]:
        return [key for key, state in self._entries.items() if state.alerted]

    def observe(self, t: float, hits: Iterable[FrameHit]) -> list[Decision]:
        by_entry: dict[int, list[FrameHit]] = {}
        for hit in hits:
            by_entry.setdefault(hit.entry_id, []).append(hit)
        decisions: list[Decision] = []
        for entry_id, found in by_entry.items():
            decision = self._observe_entry(t, entry_id, found)
            if decision is not None:
                decisions.append(decision)
        decisions.extend(self._expire(t, set(by_entry)))
        return decisions

    def _observe_entry(self, t: float, entry_id: int, found: list[FrameHit]) -> Decision | None:
        rules = self.rules
        state = self._entries.get(entry_id)
        if state is None:
            state = self._entries[entry_id] = _EntryState(found[0].signal_type)
        state.period = max(state.period, max(h.ref_period for h in found))
        refs = [(h.ref_seconds, h.distance) for h in found]
        while state.recent and state.recent[0][0] < t - rules.window:
            state.recent.popleft()
        if state.alerted:
            return self._progress(t, state, entry_id, refs)
        support = self._support(t, state, refs)
        state.recent.append((t, refs))
        if support is None:
            return None
        ref, offset, distance, count = support
        state.alerted, state.offset, state.best = True, offset, distance
        state.hits = count
        for _, frame_refs in state.recent:
            self._remember(state, frame_refs)
        state.last_hit = state.last_update = t
        state.shown = (count - 1) * self.sample_period + self.sample_period
        state.seen_at_update = state.seen_seconds()
        return Decision("alert", entry_id, state.signal_type, distance, ref,
                        state.seen_seconds(), count)

    def _support(
        self, t: float, state: _EntryState, refs: list[tuple[float | None, int]]
    ) -> tuple[float | None, float | None, int, int] | None:
        """The best run that this frame completes: (ref seconds, offset, distance, frames)."""
        rules = self.rules
        best: tuple[float | None, float | None, int, int] | None = None
        for ref, distance in refs:
            advancing = static = 1
            first_t, dist = t, distance
            for seen_t, seen_refs in state.recent:
                if seen_t >= t:
                    continue
                moved = still = False
                for seen_ref, seen_distance in seen_refs:
                    if ref is None or seen_ref is None:
                        still = still or (ref is None and seen_ref is None)
                    elif seen_ref < ref - _GRID / 2 and \
                            abs((seen_ref - seen_t) - (ref - t)) <= rules.tolerance:
                        moved = True
                        dist = min(dist, seen_distance)
                    elif abs(seen_ref - ref) <= rules.tolerance:
                        still = True
                advancing += moved
                if moved or still:
                    static += 1
                    first_t = min(first_t, seen_t)
            offset = None if ref is None else ref - t
            if advancing >= rules.min_hits:
                candidate = (ref, offset, dist, advancing)
            elif static >= rules.static_hits and t - first_t >= rules.static_span:
                candidate = (ref, offset, dist, static)
            else:
                continue
            if best is None or candidate[3] > best[3]:
                best = candidate
        return best

    def _remember(self, state: _EntryState, refs: list[tuple[float | None, int]]) -> None:
        for ref, _ in refs:
            if ref is not None:
                state.seen_refs.add(round(ref / _GRID))

    def _progress(
        self, t: float, state: _EntryState, entry_id: int, refs: list[tuple[float | None, int]]
    ) -> Decision | None:
        rules = self.rules
        # Of repeated banked frames, keep the one in line with the alert's offset.
        ref, distance = min(
            refs,
            key=lambda r: (abs((r[0] - t) - state.offset) if r[0] is not None and
                           state.offset is not None else 0.0, r[1]),
        )
        if ref is not None:
            state.offset = ref - t
        gap = t - state.last_hit
        state.shown += min(gap, 2 * self.sample_period) if not state.lost else self.sample_period
        state.last_hit = t
        state.hits += 1
        state.best = min(state.best, distance)
        self._remember(state, [(ref, distance)])
        seen = state.seen_seconds()
        came_back = state.lost
        state.lost = False
        if came_back or (
            t - state.last_update >= rules.update_interval and seen > state.seen_at_update
        ):
            state.last_update, state.seen_at_update = t, seen
            return Decision("progress", entry_id, state.signal_type, distance, ref, seen,
                            state.hits)
        return None

    def _expire(self, t: float, current: set[int]) -> list[Decision]:
        decisions = []
        for entry_id, state in list(self._entries.items()):
            if entry_id in current:
                continue
            if state.alerted:
                if not state.lost and t - state.last_hit >= self.rules.lost_after:
                    state.lost = True
                    decisions.append(Decision("lost", entry_id, state.signal_type, state.best,
                                              None, state.seen_seconds(), state.hits))
            elif state.recent and state.recent[-1][0] < t - self.rules.window:
                # Unconfirmed entries keep no state once their hits are out of the window.
                del self._entries[entry_id]
        return decisions
