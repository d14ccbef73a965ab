"""The vpdq-robust index: frame hits of every view stream, fitted to one time line per video.

Banked videos contribute two frame streams (trimmed frames, and frames without their bottom
fifth) of SAMPLES_PER_SECOND frames a second (`banked_rows`), each in its own `VpdqIndex`
(vPDQ's multi-index frame lookup). Every frame of a query is looked up, five times: its
trimmed, mirrored and inset streams against the first, its band and mirrored band streams
against the second.

The frame hits of one banked video, (query time q, reference time r), are then fitted to a
line r = a q + b by voting over speeds a from 0.8 to 1.25 and offsets b: a copy that was cut,
re-timed, sped up or slowed down keeps its frames on one such line, unrelated frames that
happen to share a hash do not line up; least squares then refine the line. The longest
stretch of it that misses at most MAX_MISSES informative eighths of a second in a row is the
matched run; it gives the time range on both videos. Runs are fitted per stream and once with
the hits of all streams pooled, and the longest is kept.

A video matches when the run covers at least MIN_SEGMENT_SECONDS of the query (or 80% of a
shorter query): a 10-second clip cut from an hour of footage, or inserted into unrelated
footage, covers little of either video but is one long run. `distance` is 1 - the share of
the query the run covers.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from cordon.errors import CordonError
from cordon.index.base import IndexMatch, SignalIndex
from cordon.index.snapshot import load_values, save_values
from cordon.index.vpdq import PreparedHash, VpdqIndex
from cordon.signals.vpdq import QUALITY_THRESHOLD, VpdqFrame, VpdqHash
from cordon.signals.vpdq_robust import SAMPLES_PER_SECOND, RobustVideo, View

# A run of at least this many seconds of the query matches on its own.
MIN_SEGMENT_SECONDS = 4.0
# Frame hits are looser than vPDQ's 31 bits: on fast motion a frame sampled 1/16 s away from
# the banked one differs by 30-60 bits, and the time-line fit, not the frame distance, is what
# separates copies from chance (unrelated frames are ~128 bits apart; 48 is far in the tail).
FRAME_THRESHOLD = 48
# Speeds tried (reference seconds per query second) and the tolerance around the line.
SPEEDS = np.linspace(0.8, 1.25, 19)
LINE_TOLERANCE = 0.4
# A run continues over this many informative 1/SAMPLES_PER_SECOND slots without a hit (1.5 s
# of frames hidden by an overlay, or whose window was not found).
MAX_MISSES = 12
# A run must hit at least this share of the informative slots over its span.
MIN_RUN_DENSITY = 0.4
# (query view, banked view) pairs looked up.
STREAMS: tuple[tuple[View, View], ...] = (
    (View.FULL, View.FULL),
    (View.BAND, View.BAND),
    (View.MIRROR, View.FULL),
    (View.MIRROR_BAND, View.BAND),
    (View.INSET, View.FULL),
)


def stream(value: RobustVideo, view: View, rows: np.ndarray | None = None) -> VpdqHash:
    """One view of the sampled frames (all, or `rows`) as a vPDQ hash (the frame number is
    its position)."""
    picked = np.arange(len(value)) if rows is None else rows
    return VpdqHash(
        tuple(
            VpdqFrame(
                int(i),
                int(value.qualities[i, view]),
                value.hashes[i, view].tobytes().hex(),
                float(value.seconds[i]),
            )
            for i in picked
        )
    )


def _slots(seconds: np.ndarray) -> np.ndarray:
    # The 1/SAMPLES_PER_SECOND interval each time falls in (times are float32 frame instants).
    return np.floor(np.asarray(seconds, np.float64) * SAMPLES_PER_SECOND + 1e-4).astype(np.int64)


def banked_rows(value: RobustVideo) -> np.ndarray:
    """The frames banked: the first at or after each 1/SAMPLES_PER_SECOND instant. Queries
    look every frame up, so a clip cut anywhere holds the very frames that were banked."""
    if not len(value):
        return np.zeros(0, np.int64)
    slots = _slots(value.seconds)
    return np.flatnonzero(np.r_[True, slots[1:] != slots[:-1]])


def _period(sampled: np.ndarray | None) -> float:
    if sampled is None or len(sampled) < 2:
        return 1.0 / SAMPLES_PER_SECOND
    return float(np.median(np.diff(np.unique(sampled))))


def fit_run(
    query_times: np.ndarray,
    ref_times: np.ndarray,
    usable: np.ndarray,
    sampled: np.ndarray | None = None,
    informative: np.ndarray | None = None,
    banked: np.ndarray | None = None,
) -> dict[str, float] | None:
    """The longest run of hits on one line ref = a * query + b (see the module docstring).

    `usable` are the times of the query frames that could match (informative enough); a run
    continues over at most MAX_MISSES of them without a hit on the line, however long the
    stretch of flat frames (fades, title cards) in between. With `sampled` (the times of every
    sampled query frame), the run also takes in the uninformative frames at its two ends, up
    to the next informative one (in any view, with `informative`): they cannot contradict it,
    and the range would be short. With `banked` (the times of the reference's informative
    banked frames), a query frame whose place on the line has no such frame near it is not a
    miss either: it cannot hit what the reference does not hold (a fade, a dark shot).
    """
    if len(query_times) < 2:
        return None
    best: tuple[int, float, float] | None = None
    for speed in SPEEDS:
        offsets = ref_times - speed * query_times
        for shift in (0.0, 0.5):  # two staggered grids, so that no line sits on a bin edge
            bins = np.floor(offsets / LINE_TOLERANCE + shift).astype(np.int64)
            _, inverse = np.unique(bins, return_inverse=True)
            for k in np.argsort(-np.bincount(inverse))[:3]:
                members = inverse == k
                support = len(np.unique(query_times[members]))
                if best is None or support > best[0]:
                    best = (support, float(speed), float(np.median(offsets[members])))
    if best is None:
        return None
    _, speed, offset = best
    # The vote has the speed to a step and the offset to a bin: refit on the hits near its line
    # (least squares, twice), so that the range is right at both ends of a long clip.
    for tolerance in (LINE_TOLERANCE, LINE_TOLERANCE / 2):
        near = np.abs(ref_times - (speed * query_times + offset)) <= tolerance
        if len(np.unique(query_times[near])) < 3 or np.ptp(query_times[near]) < 1.0:
            break
        fitted, intercept = np.polyfit(query_times[near], ref_times[near], 1)
        if not SPEEDS[0] <= fitted <= SPEEDS[-1]:
            break
        speed, offset = float(fitted), float(intercept)
    on_line = np.abs(ref_times - (speed * query_times + offset)) <= LINE_TOLERANCE
    times = np.unique(query_times[on_line])
    if len(times) < 2:
        return None
    # Misses and density are counted in 1/SAMPLES_PER_SECOND slots, as the bank is sampled:
    # of the several query frames in a slot, only the one nearest the banked instant may hit.
    hit_slots = _slots(times)
    if banked is not None and len(banked):
        place = speed * usable + offset
        nearest = np.searchsorted(banked, place).clip(1, len(banked) - 1)
        gap = np.minimum(np.abs(banked[nearest] - place), np.abs(banked[nearest - 1] - place))
        usable = usable[gap <= 1.0 / SAMPLES_PER_SECOND]
    slots = np.unique(np.concatenate([hit_slots, _slots(usable)]))
    hits = np.unique(hit_slots)
    # Misses between consecutive hits: usable slots strictly between them.
    between = np.diff(np.searchsorted(slots, hits)) - 1
    breaks = np.flatnonzero(between > MAX_MISSES) + 1
    runs = [r for r in np.split(hits, breaks) if len(r) >= 2]

    def density(run: np.ndarray) -> float:
        inside = np.count_nonzero((slots >= run[0]) & (slots <= run[-1]))
        return len(run) / max(1, inside)

    dense = [
        times[(hit_slots >= r[0]) & (hit_slots <= r[-1])]
        for r in runs
        if density(r) >= MIN_RUN_DENSITY
    ]
    if not dense:
        return None
    period = _period(sampled)
    run = max(dense, key=lambda r: r[-1] - r[0])
    start, end = float(run[0]), float(run[-1]) + period
    if sampled is not None and len(sampled):
        known = usable if informative is None else informative
        before = known[known < run[0]]
        after = known[known > run[-1]]
        floor = before.max() if len(before) else -np.inf
        ceiling = after.min() if len(after) else np.inf
        start = float(sampled[(sampled > floor) & (sampled <= run[0])].min(initial=start))
        end = float(sampled[(sampled >= run[-1]) & (sampled < ceiling)].max(initial=end - period))
        end += period
    return {
        "query_start": round(start, 3),
        "query_end": round(end, 3),
        "ref_start": round(speed * start + offset, 3),
        "ref_end": round(speed * end + offset, 3),
        "speed": round(speed, 3),
    }


def _length(run: dict[str, float] | None) -> float:
    return run["query_end"] - run["query_start"] if run else 0.0


class RobustVideoIndex(SignalIndex[RobustVideo]):
    def __init__(
        self,
        threshold: float = 0.2,
        *,
        streams: tuple[tuple[View, View], ...] = STREAMS,
        min_segment_seconds: float = MIN_SEGMENT_SECONDS,
    ) -> None:
        self.threshold = float(threshold)
        self.streams = streams
        self.min_segment_seconds = min_segment_seconds
        self._values: dict[int, RobustVideo] = {}
        self._indexes = {view: VpdqIndex(threshold=1.0) for view in (View.FULL, View.BAND)}

    def add(self, key: int, value: RobustVideo) -> None:
        if not isinstance(value, RobustVideo):
            raise CordonError("a vpdq-robust index only holds vpdq-robust values")
        self._values[key] = value
        rows = banked_rows(value)
        for view, index in self._indexes.items():
            index.add(key, stream(value, view, rows))

    def add_many(self, items: Iterable[tuple[int, RobustVideo]]) -> None:
        for key, value in items:
            self.add(key, value)

    def remove(self, key: int) -> None:
        if self._values.pop(key, None) is not None:
            for index in self._indexes.values():
                index.remove(key)

    def __len__(self) -> int:
        return len(self._values)

    def query(self, value: RobustVideo, threshold: float | None = None) -> list[IndexMatch]:
        limit = self.threshold if threshold is None else float(threshold)
        if not len(value) or not self._values:
            return []
        sampled = value.seconds.astype(np.float64)
        views = sorted({int(q) for q, _ in self.streams})
        informative = sampled[(value.qualities[:, views] >= QUALITY_THRESHOLD).any(axis=1)]
        duration = float(sampled.max() - sampled.min()) + _period(sampled)
        needed = min(self.min_segment_seconds, 0.8 * duration)
        best: dict[int, tuple[float, IndexMatch]] = {}
        # Per stream, then all streams together: a copy whose full frame matches on one side
        # of a cut and whose window or band matches on the other is one run, while a window
        # lost on some frames is better judged on its own stream (the footage around it is
        # informative and would count as misses).
        pooled: dict[int, list[tuple[np.ndarray, ...]]] = {}
        usable_all, banked_all = [], {}
        for query_view, bank_view in self.streams:
            prepared = PreparedHash.of(stream(value, query_view))
            if not len(prepared.words):
                continue
            usable_all.append(prepared.seconds)
            found = self._indexes[bank_view].query_frames(prepared.words, FRAME_THRESHOLD)
            counts = [len(keys) for keys, _, _ in found]
            if not sum(counts):
                continue
            keys = np.concatenate([k for k, _, _ in found])
            ref_times = np.concatenate([r for _, r, _ in found])
            distances = np.concatenate([d for _, _, d in found])
            query_times = np.repeat(prepared.seconds, counts)
            for key in np.unique(keys).tolist():
                mine = keys == key
                banked = self._informative(int(key), bank_view)
                banked_all.setdefault(key, []).append(banked)
                hits = (query_times[mine], ref_times[mine], distances[mine])
                pooled.setdefault(key, []).append(hits)
                run = fit_run(hits[0], hits[1], prepared.seconds, sampled, informative, banked)
                self._keep(best, key, run, hits, query_view.name.lower(), needed, duration, limit)
        if len(self.streams) > 1 and usable_all:
            usable = np.unique(np.concatenate(usable_all))
            for key, parts in pooled.items():
                if len(parts) < 2:
                    continue
                hits = tuple(np.concatenate([p[i] for p in parts]) for i in range(3))
                banked = np.unique(np.concatenate(banked_all[key]))
                run = fit_run(hits[0], hits[1], usable, sampled, informative, banked)
                self._keep(best, key, run, hits, "views", needed, duration, limit)
        matches = [m for _, m in best.values()]
        return sorted(matches, key=lambda m: (m.distance, -_length(m.detail["run"]), m.key))

    @staticmethod
    def _keep(
        best: dict[int, tuple[float, IndexMatch]],
        key: int,
        run: dict[str, float] | None,
        hits: tuple[np.ndarray, ...],
        via: str,
        needed: float,
        duration: float,
        limit: float,
    ) -> None:
        """Keep the run as the match of `key` if it is long enough and the longest so far."""
        seconds = _length(run)
        if seconds < needed - 1e-9 or (key in best and seconds <= best[key][0]):
            return
        detail = {
            "via": via,
            "run": run,
            "frame_hits": len(hits[0]),
            "best_frame_distance": int(hits[2].min()),
        }
        distance = round(max(0.0, 1.0 - seconds / duration), 4)
        best[key] = (seconds, IndexMatch(int(key), min(distance, limit), detail))

    def _informative(self, key: int, view: View) -> np.ndarray:
        """Times of the banked frames of one video that can be hit in one view, sorted."""
        value = self._values[key]
        rows = banked_rows(value)
        rows = rows[value.qualities[rows, view] >= QUALITY_THRESHOLD]
        return np.sort(value.seconds[rows].astype(np.float64))

    def save(self, path: Path) -> None:
        from cordon.signals.vpdq_robust import SIGNAL

        save_values(path, "vpdq-robust index", SIGNAL, self._values, self.threshold)

    @classmethod
    def load(cls, path: Path) -> RobustVideoIndex:
        from cordon.signals.vpdq_robust import SIGNAL

        threshold, items = load_values(path, "vpdq-robust index", SIGNAL)
        index = cls(threshold=float(threshold))
        for key, value in items:
            index.add(key, value)
        return index

    def options(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "min_segment_seconds": self.min_segment_seconds}
