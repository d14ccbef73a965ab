"""The vPDQ match index: every banked frame in one binary index, aggregated per video.

A query's usable frames (quality >= 50) are searched at once in one `PdqIndex` (exact
multi-index-hashing range search) holding the usable frames of every banked video under frame
ids: on a bank of 750,000 frames it answers 60 frames in about 20 ms where a flat scan (faiss
IndexBinaryFlat, python-threatexchange's choice) takes 70-160 ms. Frame hits are then grouped by
video, vectorized, into the two coverage figures python-threatexchange reports, and only videos
that match are aligned in time.

Coverage, as python-threatexchange's brute-force matcher computes it: exact duplicate frame
hashes of one video count once, and the query coverage is the share of the query's distinct
usable frame hashes within 31 bits of some usable frame of the reference (and vice versa).

Alignment: every frame hit (query time q, reference time r) votes for the offset r - q; the
offset supported by the most query frames wins, its hits are split into runs where the query
time has no long gap, and each run becomes a segment (query range <-> reference range). The
hits are removed and the next offset is tried, so a compilation of several banked scenes gives
several segments. Offsets are only compared to within a sampling period, which is the
precision the hashes allow (about 1 s at the default 1 frame per second).
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cordon.errors import CordonError
from cordon.index.base import IndexMatch, SignalIndex
from cordon.index.pdq import WORDS, PdqIndex
from cordon.index.snapshot import snapshot_writer
from cordon.signals.vpdq import (
    COVERAGE_THRESHOLD,
    FRAME_DISTANCE_THRESHOLD,
    QUALITY_THRESHOLD,
    VpdqHash,
)

_BITS = 256
# At most this many segments are reported per matched video; the rest is noise.
_MAX_SEGMENTS = 16
# A segment continues over up to this many sampling periods without a matched frame
# (frames dropped by the quality filter or hidden by an overlay).
_GAP_PERIODS = 4.0
# Removed videos stay in the frame index until they make up this share of it.
_COMPACT_SHARE = 0.25
_SNAPSHOT_FORMAT = "cordon-vpdq-index"
_SNAPSHOT_VERSION = 1


@dataclass(frozen=True, slots=True)
class Segment:
    query_start: float
    query_end: float
    ref_start: float
    ref_end: float

    def to_json(self) -> dict[str, float]:
        return {
            "query_start": round(self.query_start, 3),
            "query_end": round(self.query_end, 3),
            "ref_start": round(self.ref_start, 3),
            "ref_end": round(self.ref_end, 3),
        }


@dataclass(frozen=True)
class VideoMatch:
    """How one query video compares with one reference video."""

    query_coverage: float
    reference_coverage: float
    best_frame_distance: int | None
    frame_pairs: int
    segments: tuple[Segment, ...] = ()

    @property
    def distance(self) -> float:
        """1 - the larger coverage: 0 when one video is entirely found in the other."""
        # Rounded so that 7 of 10 frames is exactly 0.3 away, as a threshold of 0.3 means.
        return round(1.0 - max(self.query_coverage, self.reference_coverage), 9)

    def detail(self) -> dict[str, Any]:
        return {
            "query_coverage": round(self.query_coverage, 4),
            "reference_coverage": round(self.reference_coverage, 4),
            "best_frame_distance": self.best_frame_distance,
            "matched_frame_pairs": self.frame_pairs,
            "segments": [s.to_json() for s in self.segments],
        }


@dataclass(frozen=True)
class PreparedHash:
    """The usable frames of one vPDQ hash as arrays."""

    words: np.ndarray  # (n, 4) uint64: the hash bytes in reference order, as PdqIndex packs them
    seconds: np.ndarray  # (n,) float64
    # Per frame, the position of the first frame with the same hash: duplicates count once.
    uniq: np.ndarray  # (n,) int32
    n_unique: int
    period: float  # sampling period in seconds (0 when unknown)

    @classmethod
    def of(cls, value: VpdqHash) -> PreparedHash:
        usable = [f for f in value.frames if f.quality >= QUALITY_THRESHOLD]
        first: dict[str, int] = {}
        uniq = np.fromiter(
            (first.setdefault(f.hex, len(first)) for f in usable), dtype=np.int32, count=len(usable)
        )
        words = np.frombuffer(
            bytes.fromhex("".join(f.hex for f in usable)), dtype=np.uint64
        ).reshape(-1, WORDS)
        seconds = np.fromiter((f.seconds for f in usable), dtype=np.float64, count=len(usable))
        return cls(words, seconds, uniq, len(first), value.interval)


def hamming_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) Hamming distances between rows of two (n, 4) uint64 arrays."""
    return np.bitwise_count(a[:, None, :] ^ b[None, :, :]).sum(axis=2, dtype=np.int32)


def align(
    query_times: np.ndarray,
    ref_times: np.ndarray,
    query_frames: np.ndarray,
    query_period: float,
    ref_period: float,
    min_frames: int = 2,
) -> tuple[Segment, ...]:
    """Segments of consistent time offset among frame hits (query_times[i] <-> ref_times[i]);
    `query_frames[i]` identifies the query frame of hit i."""
    step = max(query_period, ref_period, 1e-3)
    tolerance = step
    max_gap = _GAP_PERIODS * max(query_period, 1e-3)
    offsets = ref_times - query_times
    active = np.ones(len(offsets), dtype=bool)
    segments: list[Segment] = []
    while active.any() and len(segments) < _MAX_SEGMENTS:
        live = np.flatnonzero(active)
        # Vote: for each candidate offset, how many distinct query frames lie within tolerance.
        order = live[np.argsort(offsets[live], kind="stable")]
        sorted_offsets = offsets[order]
        lo = np.searchsorted(sorted_offsets, sorted_offsets - tolerance, side="left")
        hi = np.searchsorted(sorted_offsets, sorted_offsets + tolerance, side="right")
        # Hits per window is an upper bound of distinct frames; check the best few exactly.
        candidates = np.argsort(lo - hi, kind="stable")[:8]
        best_center, best_support = 0.0, 0
        for c in candidates:
            window = order[lo[c] : hi[c]]
            support = len(np.unique(query_frames[window]))
            if support > best_support:
                best_center, best_support = float(sorted_offsets[c]), support
        if best_support < min_frames:
            break
        members = live[np.abs(offsets[live] - best_center) <= tolerance]
        center = float(np.median(offsets[members]))
        # One hit per query frame: the one closest to the common offset.
        by_frame: dict[int, int] = {}
        for hit in members[np.argsort(np.abs(offsets[members] - center), kind="stable")]:
            by_frame.setdefault(int(query_frames[hit]), int(hit))
        chosen = np.array(sorted(by_frame.values(), key=lambda h: query_times[h]), dtype=np.int64)
        times = query_times[chosen]
        breaks = np.flatnonzero(np.diff(times) > max_gap) + 1
        for run in np.split(chosen, breaks):
            if len(run) < min_frames:
                continue
            offset = float(np.median(offsets[run]))
            start = float(query_times[run].min())
            end = float(query_times[run].max()) + query_period
            segments.append(Segment(start, end, max(0.0, start + offset), end + offset))
        used = np.isin(query_frames, list(by_frame))
        active &= ~used
    return tuple(sorted(segments, key=lambda s: (s.query_start, s.ref_start)))


def _min_frames(query: PreparedHash) -> int:
    # A query of one or two usable frames can only ever give one-frame segments.
    return 1 if len(query.words) < 3 else 2


def aggregate(
    query: PreparedHash,
    ref: PreparedHash,
    qi: np.ndarray,
    rj: np.ndarray,
    distances: np.ndarray,
    with_segments: bool = True,
) -> VideoMatch:
    """Coverage and alignment from the frame hits (query frame qi[k] ~ reference frame rj[k])."""
    if len(qi) == 0:
        return VideoMatch(0.0, 0.0, None, 0)
    query_cov = len(np.unique(query.uniq[qi])) / query.n_unique
    ref_cov = len(np.unique(ref.uniq[rj])) / ref.n_unique
    segments: tuple[Segment, ...] = ()
    if with_segments:
        segments = align(
            query.seconds[qi], ref.seconds[rj], qi, query.period, ref.period, _min_frames(query)
        )
    return VideoMatch(query_cov, ref_cov, int(distances.min()), len(qi), segments)


def compare_hashes(
    query: VpdqHash, ref: VpdqHash, frame_threshold: int = FRAME_DISTANCE_THRESHOLD
) -> VideoMatch:
    """Compare two hashes directly (every frame against every frame)."""
    a, b = PreparedHash.of(query), PreparedHash.of(ref)
    if not len(a.words) or not len(b.words):
        return VideoMatch(0.0, 0.0, None, 0)
    matrix = hamming_matrix(a.words, b.words)
    qi, rj = np.nonzero(matrix <= frame_threshold)
    return aggregate(a, b, qi, rj, matrix[qi, rj])


@dataclass
class _Video:
    key: int
    n_unique: int
    period: float
    # Frame ids first_frame .. first_frame + n_frames - 1 in the frame index.
    first_frame: int
    n_frames: int
    alive: bool = True


class _Columns:
    """Per-frame arrays indexed by frame id, grown by doubling."""

    def __init__(self, capacity: int = 1024) -> None:
        self.size = 0
        self.words = np.empty((capacity, WORDS), dtype=np.uint64)
        self.owner = np.empty(capacity, dtype=np.int32)
        self.seconds = np.empty(capacity, dtype=np.float64)
        self.uniq = np.empty(capacity, dtype=np.int32)

    def append(self, slot: int, prepared: PreparedHash) -> np.ndarray:
        """Store the frames of one video; returns their frame ids."""
        n = len(prepared.words)
        end = self.size + n
        if end > len(self.owner):
            capacity = max(end, 2 * len(self.owner))
            for name in ("words", "owner", "seconds", "uniq"):
                old = getattr(self, name)
                new = np.empty((capacity, *old.shape[1:]), dtype=old.dtype)
                new[: self.size] = old[: self.size]
                setattr(self, name, new)
        self.words[self.size : end] = prepared.words
        self.owner[self.size : end] = slot
        self.seconds[self.size : end] = prepared.seconds
        self.uniq[self.size : end] = prepared.uniq
        ids = np.arange(self.size, end, dtype=np.int64)
        self.size = end
        return ids


class VpdqIndex(SignalIndex[VpdqHash]):
    """vPDQ hashes under integer keys; matches carry coverage and aligned segments."""

    def __init__(
        self,
        threshold: float = round(1.0 - COVERAGE_THRESHOLD, 9),
        frame_threshold: int = FRAME_DISTANCE_THRESHOLD,
    ) -> None:
        if not 0 <= threshold <= 1:
            raise CordonError("a vpdq threshold is 1 - coverage, between 0 and 1")
        if not 0 <= frame_threshold < _BITS:
            raise CordonError("a vpdq frame threshold is a Hamming distance from 0 to 255")
        self.threshold = float(threshold)
        self.frame_threshold = int(frame_threshold)
        self._reset()

    def _reset(self) -> None:
        self._videos: list[_Video] = []
        self._slot_of: dict[int, int] = {}
        self._columns = _Columns()
        # Frame ids of every usable banked frame, exact Hamming range search.
        self._frames = PdqIndex(threshold=self.frame_threshold)
        self._dead_frames = 0
        self._alive = np.zeros(0, dtype=bool)
        self._n_unique = np.zeros(0, dtype=np.float64)
        self._keys = np.zeros(0, dtype=np.int64)

    # --- building ------------------------------------------------------------------------
    def add(self, key: int, value: VpdqHash) -> None:
        self.add_many([(key, value)])

    def add_many(self, items: Iterable[tuple[int, VpdqHash]]) -> None:
        batch: dict[int, PreparedHash] = {}
        for key, value in items:
            if not isinstance(value, VpdqHash):
                raise CordonError(f"a vpdq index holds VpdqHash values, got {type(value).__name__}")
            if isinstance(key, bool) or not isinstance(key, int | np.integer):
                raise CordonError(f"a vpdq index key is an integer, got {key!r:.40}")
            batch.pop(int(key), None)
            batch[int(key)] = PreparedHash.of(value)
        for key in batch:
            self.remove(key)
        # One bulk insert, so the frame index builds its lookup tables once.
        self._add_prepared(list(batch.items()))

    def remove(self, key: int) -> None:
        slot = self._slot_of.pop(int(key), None)
        if slot is None:
            return
        video = self._videos[slot]
        video.alive = False
        if video.n_frames:
            self._frames.remove_many(range(video.first_frame, video.first_frame + video.n_frames))
        self._dead_frames += video.n_frames
        if self._dead_frames > _COMPACT_SHARE * max(1, self._columns.size):
            self._compact()
        self._refresh()

    def _refresh(self) -> None:
        self._alive = np.fromiter((v.alive for v in self._videos), dtype=bool)
        self._n_unique = np.fromiter(
            (max(1, v.n_unique) for v in self._videos), dtype=np.float64
        )
        self._keys = np.fromiter((v.key for v in self._videos), dtype=np.int64)

    def _compact(self) -> None:
        """Drop removed videos and renumber slots and frame ids."""
        videos, columns = self._videos, self._columns
        self._reset()
        rebuilt = [
            (
                v.key,
                PreparedHash(
                    columns.words[v.first_frame : v.first_frame + v.n_frames],
                    columns.seconds[v.first_frame : v.first_frame + v.n_frames],
                    columns.uniq[v.first_frame : v.first_frame + v.n_frames],
                    v.n_unique,
                    v.period,
                ),
            )
            for v in videos
            if v.alive
        ]
        self._add_prepared(rebuilt)

    def _add_prepared(self, items: Sequence[tuple[int, PreparedHash]]) -> None:
        ids, words = [], []
        for key, prepared in items:
            slot = len(self._videos)
            frame_ids = self._columns.append(slot, prepared)
            first = int(frame_ids[0]) if len(frame_ids) else self._columns.size
            self._videos.append(
                _Video(key, prepared.n_unique, prepared.period, first, len(frame_ids))
            )
            self._slot_of[key] = slot
            ids.append(frame_ids)
            words.append(prepared.words)
        if ids:
            self._frames.add_arrays(np.concatenate(ids), np.concatenate(words))
        self._refresh()

    def __len__(self) -> int:
        return len(self._slot_of)

    @property
    def frame_count(self) -> int:
        """Usable frames of the indexed videos."""
        return len(self._frames)

    # --- querying ------------------------------------------------------------------------
    def query(self, value: VpdqHash, threshold: float | None = None) -> list[IndexMatch]:
        limit = self.threshold if threshold is None else float(threshold)
        query = PreparedHash.of(value)
        if not len(query.words) or not len(self._frames):
            return []
        per_frame = self._frames.query_arrays(query.words, self.frame_threshold)
        counts = np.fromiter((len(ids) for ids, _ in per_frame), dtype=np.int64)
        if not counts.sum():
            return []
        qi = np.repeat(np.arange(len(query.words), dtype=np.int64), counts)
        rows = np.concatenate([ids for ids, _ in per_frame])
        dist = np.concatenate([d for _, d in per_frame])
        owner = self._columns.owner[rows]
        query_cov, ref_cov = self._coverages(query, qi, rows, owner)
        best = np.maximum(query_cov, ref_cov)
        candidates = np.flatnonzero(self._alive & (1.0 - best <= limit + 1e-9))
        if not len(candidates):
            return []
        order = np.argsort(owner, kind="stable")
        sorted_owner = owner[order]
        starts = np.searchsorted(sorted_owner, candidates, side="left")
        ends = np.searchsorted(sorted_owner, candidates, side="right")
        min_frames = _min_frames(query)
        matches = []
        for slot, start, end in zip(candidates.tolist(), starts, ends, strict=True):
            hits = order[start:end]
            video = self._videos[slot]
            segments = align(
                query.seconds[qi[hits]],
                self._columns.seconds[rows[hits]],
                qi[hits],
                query.period,
                video.period,
                min_frames,
            )
            match = VideoMatch(
                float(query_cov[slot]),
                float(ref_cov[slot]),
                int(dist[hits].min()),
                len(hits),
                segments,
            )
            matches.append(IndexMatch(video.key, match.distance, match.detail()))
        matches.sort(key=lambda m: (m.distance, m.detail["best_frame_distance"], m.key))
        return matches

    def query_frames(
        self, words: np.ndarray, frame_threshold: int | None = None
    ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Frame-level lookup for single frames (live streams): per (4 x uint64) query row,
        the (video keys, reference seconds, distances) of every banked usable frame within
        the frame threshold, closest first."""
        if not len(self._frames):
            return [(np.zeros(0, np.int64), np.zeros(0), np.zeros(0, np.int64))] * len(words)
        keys = self._keys
        found = []
        for rows, dist in self._frames.query_arrays(words, frame_threshold):
            slots = self._columns.owner[rows]
            alive = self._alive[slots]
            found.append(
                (keys[slots[alive]], self._columns.seconds[rows[alive]], dist[alive])
            )
        return found

    def period_of(self, key: int) -> float:
        """The sampling period (seconds) of the hash indexed under `key`, 0 if unknown."""
        slot = self._slot_of.get(int(key))
        return 0.0 if slot is None else self._videos[slot].period

    def _coverages(
        self, query: PreparedHash, qi: np.ndarray, rows: np.ndarray, owner: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per video slot: the query's and the reference's shares of distinct frames hit."""
        slots = len(self._videos)
        owner64 = owner.astype(np.int64)
        # Distinct (video, query frame hash) pairs, then distinct (video, reference hash).
        q_pairs = np.unique(owner64 * query.n_unique + query.uniq[qi])
        q_hits = np.bincount(q_pairs // query.n_unique, minlength=slots)
        r_pairs = np.unique(owner64 << 32 | self._columns.uniq[rows].astype(np.int64))
        r_hits = np.bincount(r_pairs >> 32, minlength=slots)
        return q_hits / query.n_unique, r_hits / self._n_unique

    # --- snapshots -----------------------------------------------------------------------
    def save(self, path: Path) -> None:
        """Write a snapshot: NumPy arrays in one .npz file, no pickled objects."""
        if self._dead_frames:
            self._compact()
        meta = {
            "format": _SNAPSHOT_FORMAT,
            "version": _SNAPSHOT_VERSION,
            "threshold": self.threshold,
            "frame_threshold": self.frame_threshold,
        }
        size = self._columns.size
        videos = self._videos
        path = Path(path)
        with snapshot_writer(path, "vpdq index") as handle:
            np.savez(
                handle,
                meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
                keys=np.array([v.key for v in videos], dtype=np.int64),
                n_unique=np.array([v.n_unique for v in videos], dtype=np.int64),
                period=np.array([v.period for v in videos], dtype=np.float64),
                n_frames=np.array([v.n_frames for v in videos], dtype=np.int64),
                words=self._columns.words[:size],
                seconds=self._columns.seconds[:size],
                uniq=self._columns.uniq[:size],
            )

    @classmethod
    def load(cls, path: Path) -> VpdqIndex:
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(bytes(data["meta"]).decode())
                arrays = {name: data[name] for name in data.files if name != "meta"}
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            raise CordonError(f"{path} is not a vpdq index snapshot ({exc})") from None
        if meta.get("format") != _SNAPSHOT_FORMAT or meta.get("version") != _SNAPSHOT_VERSION:
            raise CordonError(f"{path} is not a vpdq index snapshot of version {_SNAPSHOT_VERSION}")
        try:
            n_frames = arrays["n_frames"].astype(np.int64)
            words = arrays["words"].astype(np.uint64).reshape(-1, WORDS)
            seconds, uniq = arrays["seconds"].astype(np.float64), arrays["uniq"].astype(np.int32)
            ends = np.cumsum(n_frames)
            if len(seconds) != len(words) or len(uniq) != len(words) or (
                len(ends) and ends[-1] != len(words)
            ):
                raise ValueError("frame arrays disagree")
            columns = zip(
                arrays["keys"].tolist(), arrays["n_unique"].tolist(),
                arrays["period"].tolist(), (ends - n_frames).tolist(), ends.tolist(), strict=True,
            )
            items = [
                (key, PreparedHash(words[a:b], seconds[a:b], uniq[a:b], n_unique, period))
                for key, n_unique, period, a, b in columns
            ]
        except (KeyError, ValueError) as exc:
            raise CordonError(f"{path} is a damaged vpdq index snapshot ({exc})") from None
        index = cls(threshold=meta["threshold"], frame_threshold=meta["frame_threshold"])
        index._add_prepared(items)
        return index
