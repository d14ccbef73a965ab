"""TMK+PDQF: Meta's whole-video descriptor (Temporal Match Kernel over PDQ float frame features).

Hashes must be interchangeable with the reference tools (`tmk-hash-video`), so every step follows
them: the reference pipes `ffmpeg -i VIDEO -s 64:64 -an -f rawvideo -pix_fmt rgb24 -r 15` into the
hasher, i.e. frames are resampled to 15 fps by ffmpeg's constant-frame-rate rule and scaled to
64x64 RGB by swscale's bicubic filter (ffmpeg's default); each frame's feature is PDQ's float
16x16 DCT of its luma (no blur at 64x64); features are accumulated against cos/sin of each period.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
from functools import cache
from typing import TYPE_CHECKING, Any

import numpy as np

from cordon.content import ContentType
from cordon.errors import CordonError, SignalFormatError
from cordon.signals.base import Comparison, HashOptions, SignalType
from cordon.signals.tmk_format import (
    COEFFICIENTS,
    DIMENSION,
    FPS,
    PERIODS,
    SIZE,
    TmkHash,
    from_bytes,
)

if TYPE_CHECKING:
    from cordon.index.tmk import TmkIndex
    from cordon.media.video import VideoFrame, VideoInfo

__all__ = ["SIGNAL", "TmkHash", "TmkSignal", "level1_score", "level2_score", "level2_scores"]

FRAME_SIZE = (64, 64)
# swscale flags ffmpeg's command line uses by default for `-s`.
INTERPOLATION = "BICUBIC"
LEVEL1_THRESHOLD = 0.7
LEVEL2_THRESHOLD = 0.7
# Frames converted per vectorised step; bounds memory, amortises NumPy call overhead.
_BATCH = 64
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)
_MAX_BASE64 = 4 * math.ceil(SIZE / 3)
# Candidates scored per step: bounds the float64 copies of their features (~0.5 MB each).
_SCORE_CHUNK = 64
# Norm of the average PDQF feature below which a video is flat (a uniform picture gives ~1e-5).
_FLAT_NORM = 1.0


# --- frame sampling ---------------------------------------------------------------------------
class CfrSampler:
    """Which decoded frames ffmpeg's `-r 15` writes, and how often (its CFR video sync).

    Every input frame is placed at `seconds * fps` output ticks; a frame that falls more than
    1.1 ticks behind the output clock is dropped, one that lands more than 1.1 ticks ahead is
    repeated (and, on a gap, the previous frame fills it). At the end, the previous frame is
    repeated as often as the median of the last three fills, as ffmpeg does when it flushes.
    This is the rule of the ffmpeg that made the reference hashes: it reproduces their frame
    counts (30 fps in: the first four frames, then every other one). Time starts at the first
    video frame, where ffmpeg starts at the file's earliest stream.
    """

    def __init__(self, input_fps: float | None, fps: int = FPS) -> None:
        self.fps = fps
        # Duration of one input frame in output ticks, capped at one tick.
        self._default_duration = min(fps / input_fps, 1.0) if input_fps else 1.0
        self._next = 0  # ffmpeg's sync_opts: the next output tick
        self._fills = [0, 0, 0]

    def push(self, seconds: float, frame_seconds: float | None = None) -> tuple[int, int]:
        """(copies of the previous frame, copies of this frame) to output now."""
        duration = self._default_duration
        if frame_seconds is not None:
            # Without user filters ffmpeg trusts the packet duration once it rounds to a tick.
            ticks = round(frame_seconds * self.fps)
            if ticks > 0:
                duration = float(ticks)
        delta0 = seconds * self.fps - self._next
        delta = delta0 + duration
        if delta0 < 0 < delta:
            delta0 = 0.0
        previous, count = 0, 1
        if delta < -1.1:
            count = 0
        elif delta > 1.1:
            count = round(delta)
            if delta0 > 1.1:
                previous = min(round(delta0 - 0.6), count)
        self._fills = [previous, *self._fills[:2]]
        self._next += count
        return previous, count - previous

    def flush(self) -> int:
        """Copies of the last frame to output at the end of the stream."""
        return sorted(self._fills)[1]


# --- frame features ---------------------------------------------------------------------------
@cache
def _dct_matrix() -> np.ndarray:
    """PDQ's 16x64 DCT-II rows 1..16 (the DC row is skipped)."""
    i = np.arange(1, 17, dtype=np.float64)[:, None]
    j = np.arange(64, dtype=np.float64)[None, :]
    matrix = math.sqrt(2.0 / 64.0) * np.cos((math.pi / 2 / 64.0) * i * (2 * j + 1))
    return matrix.astype(np.float32)


def pdqf_features(rgb: np.ndarray) -> np.ndarray:
    """(N, 64, 64, 3) uint8 frames -> (N, 256) PDQ float features (unthresholded 16x16 DCT)."""
    luma = rgb.astype(np.float32) @ _LUMA
    dct = _dct_matrix()
    return (dct @ luma @ dct.T).reshape(len(rgb), DIMENSION)


# --- accumulation -----------------------------------------------------------------------------
@cache
def _unit_circle(period: int) -> tuple[np.ndarray, np.ndarray]:
    """cos and sin of 2 pi k / period for k in 0..period-1."""
    angles = 2.0 * np.pi * np.arange(period, dtype=np.float64) / period
    return np.cos(angles), np.sin(angles)


class TmkAccumulator:
    """Streams frame features (at 15 fps) into the TMK cos/sin and pure-average features."""

    def __init__(self) -> None:
        self.count = 0
        self._sum = np.zeros(DIMENSION, dtype=np.float64)
        shape = (len(PERIODS), len(COEFFICIENTS), DIMENSION)
        self._cos = np.zeros(shape, dtype=np.float64)
        self._sin = np.zeros(shape, dtype=np.float64)
        self._harmonics = np.arange(1, len(COEFFICIENTS), dtype=np.int64)

    def add(self, features: np.ndarray) -> None:
        """Ingest (N, 256) features of the next N frames."""
        n = len(features)
        if n == 0:
            return
        features = features.astype(np.float64)
        self._sum += features.sum(axis=0)
        norms = np.linalg.norm(features, axis=1, keepdims=True)
        unit = np.divide(features, norms, out=np.zeros_like(features), where=norms > 0)
        unit_sum = unit.sum(axis=0)
        t = np.arange(self.count, self.count + n, dtype=np.int64)
        for p, period in enumerate(PERIODS.tolist()):
            # Reducing j*t modulo the period keeps the angle exact however long the video.
            phase = np.outer(self._harmonics, t) % period
            cos_table, sin_table = _unit_circle(period)
            self._cos[p, 0] += unit_sum
            self._cos[p, 1:] += cos_table[phase] @ unit
            self._sin[p, 1:] += sin_table[phase] @ unit
        self.count += n

    def finish(self) -> TmkHash:
        if self.count == 0:
            average = np.zeros(DIMENSION, dtype=np.float32)
            return TmkHash(0, average, self._cos.astype(np.float32), self._sin.astype(np.float32))
        average = (self._sum / self.count).astype(np.float32)
        scale = np.sqrt(COEFFICIENTS.astype(np.float64))[None, :, None]
        return TmkHash(
            frame_count=self.count,
            pure_average=average,
            cos=(_l2_normalized(self._cos) * scale).astype(np.float32),
            sin=(_l2_normalized(self._sin) * scale).astype(np.float32),
        )


def _l2_normalized(block: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(block, axis=-1, keepdims=True)
    return np.divide(block, norms, out=np.zeros_like(block), where=norms > 0)


class TmkFrameConsumer:
    """Builds one TMK+PDQF hash from the decoded frames of a video."""

    def __init__(self, info: VideoInfo) -> None:
        self._sampler = CfrSampler(info.fps)
        self._accumulator = TmkAccumulator()
        self._batch = np.empty((_BATCH, *FRAME_SIZE[::-1], 3), dtype=np.uint8)
        self._filled = 0
        self._last: VideoFrame | None = None

    def accept(self, frame: VideoFrame) -> None:
        previous, count = self._sampler.push(frame.seconds, _frame_seconds(frame))
        if previous and self._last is not None:
            self._emit(self._last, previous)
        if count:
            self._emit(frame, count)
        self._last = frame

    def finish(self) -> TmkHash:
        if self._last is not None:
            self._emit(self._last, self._sampler.flush())
        self._drain()
        self._last = None
        return self._accumulator.finish()

    def _emit(self, frame: VideoFrame, copies: int) -> None:
        if copies <= 0:
            return
        rgb = frame.rgb(FRAME_SIZE, INTERPOLATION)
        turns = _quarter_turns(frame)
        if turns:
            # ffmpeg's command line turns frames upright (display matrix) before scaling; on a
            # square the turn commutes with the separable scaling, so turning after is cheaper.
            rgb = np.rot90(rgb, turns)
        for _ in range(copies):
            self._batch[self._filled] = rgb
            self._filled += 1
            if self._filled == _BATCH:
                self._drain()

    def _drain(self) -> None:
        if self._filled:
            self._accumulator.add(pdqf_features(self._batch[: self._filled]))
            self._filled = 0


def _quarter_turns(frame: VideoFrame) -> int:
    """Counterclockwise quarter turns that make the frame upright, from its display matrix."""
    rotation = getattr(frame.av_frame, "rotation", 0) or 0
    return round(rotation / 90) % 4


def _frame_seconds(frame: VideoFrame) -> float | None:
    av_frame = frame.av_frame
    duration = getattr(av_frame, "duration", None)
    time_base = av_frame.time_base
    if duration and time_base:
        return duration * time_base.numerator / time_base.denominator
    return None


# --- scoring ----------------------------------------------------------------------------------
# a_0 + 2 sum a_j: the level-2 kernel of a video with itself, so that self-scores are 1.
_NORMALIZER = float(COEFFICIENTS[0] + 2.0 * COEFFICIENTS[1:].sum(dtype=np.float32))


@cache
def _offset_tables() -> list[np.ndarray]:
    """Per period, the (T, 2(C-1)) matrix [cos(j delta) | sin(j delta)] over all offsets."""
    tables = []
    harmonics = np.arange(1, len(COEFFICIENTS), dtype=np.int64)
    for period in PERIODS.tolist():
        cos_table, sin_table = _unit_circle(period)
        phase = np.outer(np.arange(period, dtype=np.int64), harmonics) % period
        # float32 halves the cost of the dominant product; scores stay within 1e-6.
        tables.append(np.hstack([cos_table[phase], sin_table[phase]]).astype(np.float32))
    return tables


def level1_score(a: TmkHash, b: TmkHash) -> float:
    """Cosine similarity of the pure-average features (-1..1); 0 when either is all zero."""
    return float(a.unit_average @ b.unit_average)


def level2_scores(query: TmkHash, candidates: list[TmkHash]) -> np.ndarray:
    """The full TMK score (0..1) of `query` against each candidate: for every period, the best
    kernel value over all time offsets; the best period wins."""
    scores = [
        _level2_chunk(query, candidates[start : start + _SCORE_CHUNK])
        for start in range(0, len(candidates), _SCORE_CHUNK)
    ]
    return np.concatenate(scores) if scores else np.zeros(0)


def _level2_chunk(query: TmkHash, candidates: list[TmkHash]) -> np.ndarray:
    cos_b = np.stack([c.cos for c in candidates]).astype(np.float64)  # (N, P, C, D)
    sin_b = np.stack([c.sin for c in candidates]).astype(np.float64)
    cos_a = query.cos.astype(np.float64)
    sin_a = query.sin.astype(np.float64)
    # K(delta) = cc_0 + sum_j cos(j delta)(cc_j + ss_j) + sin(j delta)(sc_j - cs_j), where
    # cc_j = cos_a . cos_b etc. for harmonic j.
    same = np.einsum("pcd,npcd->npc", cos_a, cos_b) + np.einsum("pcd,npcd->npc", sin_a, sin_b)
    cross = np.einsum("pcd,npcd->npc", sin_a, cos_b) - np.einsum("pcd,npcd->npc", cos_a, sin_b)
    constant = np.einsum("pd,npd->np", cos_a[:, 0], cos_b[:, :, 0])
    best = np.full(len(candidates), -np.inf)
    for p, table in enumerate(_offset_tables()):
        weights = np.hstack([same[:, p, 1:], cross[:, p, 1:]]).astype(np.float32)  # (N, 2C-2)
        kernel = table @ weights.T + constant[:, p].astype(np.float32)  # (T, N)
        best = np.maximum(best, kernel.max(axis=0))
    return best / _NORMALIZER


def level2_score(a: TmkHash, b: TmkHash) -> float:
    return float(level2_scores(a, [b])[0])


# --- the signal type --------------------------------------------------------------------------
class TmkSignal(SignalType[TmkHash]):
    name = "tmk"
    description = "TMK+PDQF whole-video descriptor (level-1 and level-2 scores)"
    content_types = frozenset({ContentType.VIDEO})
    default_for = frozenset({ContentType.VIDEO})
    # On distance = 1 - level-2; the level-1 prefilter keeps its own threshold.
    default_threshold = round(1.0 - LEVEL2_THRESHOLD, 6)
    level1_threshold = LEVEL1_THRESHOLD

    def video_consumer(self, info: VideoInfo, options: HashOptions) -> TmkFrameConsumer:
        # TMK fixes its own sampling (15 fps, 64x64): `options.fps/frame_size` are for vPDQ.
        return TmkFrameConsumer(info)

    def format(self, value: TmkHash) -> str:
        return base64.b64encode(value.to_bytes()).decode("ascii")

    def parse(self, text: str) -> TmkHash:
        if not isinstance(text, str):
            raise SignalFormatError("a tmk hash must be a base64 string")
        compact = "".join(text.split())
        if len(compact) > _MAX_BASE64:
            raise SignalFormatError(
                f"a tmk hash is {SIZE:,} bytes long ({_MAX_BASE64:,} base64 characters), "
                f"got {len(compact):,} characters"
            )
        try:
            data = base64.b64decode(compact, validate=True)
        except (binascii.Error, ValueError):
            raise SignalFormatError("a tmk hash must be valid base64") from None
        return from_bytes(data)

    def parse_file(self, data: bytes) -> TmkHash:
        """Read a reference `.tmk` file's bytes."""
        return from_bytes(data)

    def to_json(self, value: TmkHash) -> dict[str, Any]:
        return {"hash": self.format(value)}

    def summary(self, value: TmkHash) -> str:
        digest = hashlib.sha256(value.to_bytes()).hexdigest()[:16]
        return (
            f"TMK+PDQF  {value.frame_count} frames at {value.fps} fps "
            f"({value.duration:.1f} s)  sha256:{digest}"
        )

    def reference_file(self, value: TmkHash) -> tuple[str, bytes]:
        return ".tmk", value.to_bytes()

    def weak(self, value: TmkHash) -> bool:
        # No frame, or only flat frames (features of rounding noise, under one grey level of
        # structure): nothing to match on.
        return value.frame_count == 0 or float(np.linalg.norm(value.pure_average)) < _FLAT_NORM

    def compare(self, a: TmkHash, b: TmkHash, threshold: float | None = None) -> Comparison:
        return self.compare_levels(a, b, level2_threshold=1.0 - self.threshold(threshold))

    def compare_levels(
        self,
        a: TmkHash,
        b: TmkHash,
        level1_threshold: float = LEVEL1_THRESHOLD,
        level2_threshold: float = LEVEL2_THRESHOLD,
    ) -> Comparison:
        """Match when both scores reach their thresholds (the reference's two-level rule)."""
        if a.fps != b.fps:
            raise CordonError("tmk hashes computed at different frame rates cannot be compared")
        level1 = level1_score(a, b)
        level2 = level2_score(a, b)
        return Comparison(
            matched=level1 >= level1_threshold and level2 >= level2_threshold,
            distance=max(0.0, 1.0 - level2),
            detail={"level1": level1, "level2": level2},
        )

    def make_index(self, threshold: float | None = None) -> TmkIndex:
        from cordon.index.tmk import TmkIndex

        return TmkIndex(threshold=self.threshold(threshold))


SIGNAL = TmkSignal()
