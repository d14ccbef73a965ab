"""vPDQ: Meta's frame-level video hash, the PDQ hash of sampled video frames.

Hashing follows the reference `vpdq` tool (ThreatExchange `vpdq/cpp`) so that the hashes we
share are the ones other platforms compute:

- frames are counted in decode order from 0; with `fps` frames per second requested, a frame is
  hashed when `index % int((1 / fps) * rate) == 0` (at least every frame), where `rate` is the
  container's average frame rate; `fps=0` hashes every frame;
- a frame's timestamp is `index / rate`, not its pts: the reference clock, so the times in
  our hashes line up with the times in hashes computed elsewhere;
- frames are converted to RGB24 at the stream's declared size (or `frame_size`) by swscale
  with area averaging (SWS_AREA), and rotation metadata is ignored, as the reference does;
- each frame is hashed by the reference PDQ code (`pdqhash`).

Comparison follows python-threatexchange's matcher (frames of quality < 50 are dropped, exact
duplicate frame hashes counted once, a frame matches at Hamming distance <= 31) and reports the
two coverage figures plus the aligned time segments; see `compare`.
"""

from __future__ import annotations

import json
import math
import re
from collections import deque
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from itertools import pairwise
from typing import TYPE_CHECKING, Any

from cordon.content import ContentType
from cordon.errors import SignalFormatError
from cordon.signals.base import Comparison, HashOptions, SignalType
from cordon.signals.pdq import PdqHash, hash_rgb

if TYPE_CHECKING:
    from cordon.index.vpdq import VpdqIndex
    from cordon.media.video import VideoFrame, VideoInfo

# Frames below this PDQ quality are too flat to compare (the reference's quality filter).
QUALITY_THRESHOLD = 50
# Two frames match at this Hamming distance or closer (python-threatexchange's default).
FRAME_DISTANCE_THRESHOLD = 31
# A video matches when at least this share of the query's, or of the reference's, usable
# frames find a match: python-threatexchange requires 80% of the query; requiring it of
# either side also catches a short banked clip inside a long upload.
COVERAGE_THRESHOLD = 0.8
# The reference writes timestamps with 3 decimals.
_SECONDS_DECIMALS = 3
# Used when a container declares no frame rate at all (the reference refuses such files).
_FALLBACK_RATE = 25.0

_HEX = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class VpdqFrame:
    """One hashed frame: its number in decode order, PDQ quality and hash, time in seconds."""

    frame: int
    quality: int
    hex: str
    seconds: float

    @property
    def weak(self) -> bool:
        return self.quality < QUALITY_THRESHOLD


@dataclass(frozen=True, slots=True)
class VpdqHash:
    frames: tuple[VpdqFrame, ...]

    def __len__(self) -> int:
        return len(self.frames)

    def usable(self) -> list[VpdqFrame]:
        """The frames the comparison looks at (quality >= 50)."""
        return [f for f in self.frames if not f.weak]

    @property
    def duration(self) -> float:
        """Seconds from the first hashed frame to the end of the last one."""
        if not self.frames:
            return 0.0
        return self.frames[-1].seconds - self.frames[0].seconds + self.interval

    @property
    def interval(self) -> float:
        """The typical time between hashed frames (the sampling period)."""
        times = sorted(f.seconds for f in self.frames)
        gaps = sorted(b - a for a, b in pairwise(times) if b > a)
        return gaps[len(gaps) // 2] if gaps else 0.0


# PDQ's cost grows with the pixels it filters, but its 64x64 grid only needs a few hundred
# pixels a side: frames at least twice this short side are area-reduced by a whole factor
# first (as images are), which is 3-4x cheaper on 720p and changes hashes by a few bits at
# most (the interop tests against the reference's native-size hashes pin it).
_NATIVE_REDUCE_SIDE = 360


def _hashing_size(width: int, height: int) -> tuple[int, int] | None:
    factor = min(width, height) // _NATIVE_REDUCE_SIDE
    if factor < 2:
        return None
    return width // factor, height // factor


class VpdqConsumer:
    """Samples and hashes frames as the decoder hands them over."""

    def __init__(self, info: VideoInfo, options: HashOptions) -> None:
        self._rate = info.fps if info.fps and math.isfinite(info.fps) else None
        self._size = options.frame_size
        self._declared = (info.width, info.height)
        rate = self._rate or _FALLBACK_RATE
        if options.fps <= 0:
            self._every = 1
        else:
            # The reference's `int(secondsPerHash * frameRate)`, same float expression.
            self._every = max(1, int((1.0 / options.fps) * rate))
        self._frames: list[VpdqFrame] = []
        self._pending: deque[tuple[int, float, Future[PdqHash]]] = deque()
        self._hasher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vpdq")

    def accept(self, frame: VideoFrame) -> None:
        if frame.index % self._every:
            return
        size = self._size
        if size is None and (frame.width, frame.height) != self._declared and all(self._declared):
            # The reference scales every frame to the size the stream declares, so a
            # mid-stream resolution change hashes as it does there.
            size = self._declared
        if size is None:
            size = _hashing_size(frame.width, frame.height)
        rgb = frame.rgb(size, "AREA") if size is not None else frame.rgb()
        seconds = frame.index / self._rate if self._rate else frame.seconds
        # PDQ releases the GIL: hashing on a worker thread overlaps with decoding the next
        # frames, as the reference's hashing thread pool does.
        self._pending.append((frame.index, seconds, self._hasher.submit(hash_rgb, rgb)))
        # A few frames in flight keep both cores busy; more would only hold frames in memory
        # when hashing is slower than decoding (every frame of a 4K video).
        while self._pending and (self._pending[0][2].done() or len(self._pending) > 4):
            self._collect()

    def _collect(self) -> None:
        index, seconds, future = self._pending.popleft()
        pdq = future.result()
        self._frames.append(VpdqFrame(index, int(pdq.quality or 0), pdq.hex, seconds))

    def finish(self) -> VpdqHash:
        try:
            while self._pending:
                self._collect()
        finally:
            self._hasher.shutdown(cancel_futures=True)
        return VpdqHash(tuple(self._frames))


def _frame_error(position: int, reason: str) -> SignalFormatError:
    return SignalFormatError(f"vpdq frame {position}: {reason}")


def _check_hex(value: Any, position: int) -> str:
    if not isinstance(value, str):
        raise _frame_error(position, "the hash must be a string of 64 hex characters")
    text = value.strip().lower()
    if len(text) != 64:
        raise _frame_error(position, f"a pdq hash has 64 hex characters, got {len(text)}")
    if not _HEX.fullmatch(text):
        raise _frame_error(position, "a pdq hash may only hold hex characters")
    return text


def _check_quality(value: Any, position: int) -> int:
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            raise _frame_error(position, f"quality {value!r} is not a whole number") from None
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 100:
        raise _frame_error(position, "quality must be a whole number from 0 to 100")
    return value


def _check_seconds(value: Any, position: int) -> float:
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise _frame_error(position, f"timestamp {value!r} is not a number") from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _frame_error(position, "the timestamp must be a number of seconds")
    if not math.isfinite(value) or value < 0:
        raise _frame_error(position, "the timestamp must be a finite, non-negative number")
    return float(value)


def _check_frame_number(value: Any, position: int) -> int:
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            raise _frame_error(position, f"frame number {value!r} is not a whole number") from None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise _frame_error(position, "the frame number must be a whole number >= 0")
    return value


def _build(frames: Iterable[VpdqFrame]) -> VpdqHash:
    value = VpdqHash(tuple(frames))
    if not value.frames:
        raise SignalFormatError("a vpdq hash needs at least one frame")
    return value


class VpdqSignal(SignalType[VpdqHash]):
    name = "vpdq"
    description = "vPDQ frame-level video hash (PDQ of sampled frames, coverage match)"
    content_types = frozenset({ContentType.VIDEO})
    default_for = frozenset({ContentType.VIDEO})
    # On `Comparison.distance` = 1 - the larger of the two coverages: a match when at least
    # 80% of the query's or of the reference's usable frames are matched.
    default_threshold = round(1.0 - COVERAGE_THRESHOLD, 9)

    def video_consumer(self, info: VideoInfo, options: HashOptions) -> VpdqConsumer:
        return VpdqConsumer(info, options)

    # --- serializing ---------------------------------------------------------------------
    def format(self, value: VpdqHash) -> str:
        """python-threatexchange's vPDQ signal string: a JSON list of "hash,quality,seconds".

        That form carries no frame numbers; `parse` numbers its frames 0, 1, 2, ... The JSON
        object form (`to_json`) and the reference text (`reference_file`) keep them.
        """
        items = [f"{f.hex},{f.quality},{f.seconds:.{_SECONDS_DECIMALS}f}" for f in value.frames]
        return json.dumps(items, separators=(",", ":"))

    def parse(self, text: str) -> VpdqHash:
        """Parse python-threatexchange's JSON list, or the reference text lines
        `frame,quality,hash,seconds` (one frame per line)."""
        if not isinstance(text, str):
            raise SignalFormatError("a vpdq hash must be a string")
        stripped = text.strip()
        if not stripped:
            raise SignalFormatError("a vpdq hash needs at least one frame")
        if stripped.startswith("["):
            return self._parse_threatexchange(stripped)
        return self._parse_reference_lines(stripped)

    def _parse_threatexchange(self, text: str) -> VpdqHash:
        try:
            items = json.loads(text)
        except (ValueError, RecursionError):
            raise SignalFormatError("a vpdq hash list is not valid JSON") from None
        if not isinstance(items, list):
            raise SignalFormatError("a vpdq hash list must be a JSON list of strings")
        frames = []
        for position, item in enumerate(items):
            if not isinstance(item, str):
                raise _frame_error(position, 'expected a string "hash,quality,seconds"')
            parts = item.split(",")
            if len(parts) != 3:
                raise _frame_error(position, f'expected "hash,quality,seconds", got {item[:90]!r}')
            frames.append(
                VpdqFrame(
                    position,
                    _check_quality(parts[1], position),
                    _check_hex(parts[0], position),
                    _check_seconds(parts[2], position),
                )
            )
        return _build(frames)

    def _parse_reference_lines(self, text: str) -> VpdqHash:
        frames = []
        for position, line in enumerate(text.splitlines()):
            parts = line.strip().split(",")
            if len(parts) != 4:
                raise _frame_error(
                    position, f'expected "frame,quality,hash,seconds", got {line[:100]!r}'
                )
            frames.append(
                VpdqFrame(
                    _check_frame_number(parts[0], position),
                    _check_quality(parts[1], position),
                    _check_hex(parts[2], position),
                    _check_seconds(parts[3], position),
                )
            )
        return _build(frames)

    def to_json(self, value: VpdqHash) -> dict[str, Any]:
        return {
            "frames": [
                {
                    "frame": f.frame,
                    "quality": f.quality,
                    "hash": f.hex,
                    "seconds": round(f.seconds, _SECONDS_DECIMALS),
                }
                for f in value.frames
            ]
        }

    def from_json(self, obj: Any) -> VpdqHash:
        if isinstance(obj, str):
            return self.parse(obj)
        if isinstance(obj, dict) and isinstance(obj.get("hash"), str):
            return self.parse(obj["hash"])
        if not isinstance(obj, dict) or not isinstance(obj.get("frames"), list):
            raise SignalFormatError('a vpdq signal must be a string or {"frames": [...]}')
        frames = []
        for position, item in enumerate(obj["frames"]):
            if not isinstance(item, dict):
                raise _frame_error(position, 'expected {"frame", "quality", "hash", "seconds"}')
            missing = [k for k in ("frame", "quality", "hash", "seconds") if k not in item]
            if missing:
                raise _frame_error(position, f"missing {', '.join(missing)}")
            frames.append(
                VpdqFrame(
                    _check_frame_number(item["frame"], position),
                    _check_quality(item["quality"], position),
                    _check_hex(item["hash"], position),
                    _check_seconds(item["seconds"], position),
                )
            )
        return _build(frames)

    def reference_file(self, value: VpdqHash) -> tuple[str, bytes]:
        lines = [
            f"{f.frame},{f.quality},{f.hex},{f.seconds:.{_SECONDS_DECIMALS}f}\n"
            for f in value.frames
        ]
        return ".vpdq.txt", "".join(lines).encode("ascii")

    def summary(self, value: VpdqHash) -> str:
        count = len(value.frames)
        if not count:
            return "0 frames"
        weak = sum(f.weak for f in value.frames)
        interval = value.interval
        sampling = f"every {interval:.3g} s" if interval else "1 frame"
        return (
            f"{count} frames ({sampling}, {value.duration:.1f} s), "
            f"{weak / count:.0%} weak (quality < {QUALITY_THRESHOLD})"
        )

    def weak(self, value: VpdqHash) -> bool:
        return not value.usable()

    # --- comparing -----------------------------------------------------------------------
    def compare(self, a: VpdqHash, b: VpdqHash, threshold: float | None = None) -> Comparison:
        """Compare query `a` with reference `b`.

        `distance` is 1 - max(query coverage, reference coverage); `detail` holds both
        coverages (shares of the usable, deduplicated frames with a match, as
        python-threatexchange computes them), the best frame distance, and the aligned
        segments (query time range <-> reference time range).
        """
        from cordon.index.vpdq import compare_hashes

        match = compare_hashes(a, b)
        distance = match.distance
        return Comparison(
            matched=bool(match.frame_pairs) and distance <= self.threshold(threshold),
            distance=distance,
            detail=match.detail(),
        )

    def make_index(self, threshold: float | None = None) -> VpdqIndex:
        from cordon.index.vpdq import VpdqIndex

        return VpdqIndex(threshold=self.threshold(threshold))


SIGNAL = VpdqSignal()
