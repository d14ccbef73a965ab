"""Guarded video decoding with PyAV (FFmpeg).

One pass decodes every frame of the first video stream and hands it to each consumer
(vPDQ, TMK, ...), which samples and converts what it needs; converting a frame is lazy and
cached, so two consumers that want the same size pay once.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import av.error
import numpy as np
from av.video.reformatter import VideoReformatter

from cordon.errors import MediaError
from cordon.media.limits import MediaLimits

logger = logging.getLogger(__name__)

# A stream that keeps failing to decode is corrupt, not merely glitchy.
_MAX_CONSECUTIVE_DECODE_ERRORS = 200


@dataclass(frozen=True)
class VideoInfo:
    width: int
    height: int
    # Average frame rate as the container declares it (may be absent or wrong).
    fps: float | None
    # Declared duration in seconds; untrusted, only for progress display.
    duration: float | None
    codec: str


class VideoFrame:
    """One decoded frame: its position, and RGB conversions on demand."""

    __slots__ = ("_cache", "_frame", "_reformatters", "index", "seconds")

    def __init__(
        self,
        frame: av.VideoFrame,
        index: int,
        seconds: float,
        reformatters: dict[tuple[int, int, str], VideoReformatter] | None = None,
    ) -> None:
        self._frame = frame
        self._cache: dict[tuple[int, int, str], np.ndarray] = {}
        # Shared by the frames of one decoder: building a swscale context (its filter taps)
        # costs more than a small conversion, and PyAV would otherwise build one per frame.
        self._reformatters = {} if reformatters is None else reformatters
        self.index = index
        self.seconds = seconds

    @property
    def width(self) -> int:
        return int(self._frame.width)

    @property
    def height(self) -> int:
        return int(self._frame.height)

    def rgb(
        self, size: tuple[int, int] | None = None, interpolation: str = "BILINEAR"
    ) -> np.ndarray:
        """HxWx3 uint8 RGB, resized to (width, height) by swscale when `size` is given."""
        width, height = size or (self.width, self.height)
        key = (width, height, interpolation)
        array = self._cache.get(key)
        if array is None:
            if size is None:
                array = self._frame.to_ndarray(format="rgb24")
            else:
                reformatter = self._reformatters.get(key)
                if reformatter is None:
                    reformatter = self._reformatters[key] = VideoReformatter()
                array = reformatter.reformat(
                    self._frame,
                    format="rgb24",
                    width=width,
                    height=height,
                    interpolation=interpolation,
                ).to_ndarray()
            self._cache[key] = array
        return array

    @property
    def av_frame(self) -> av.VideoFrame:
        return self._frame


def _av_message(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return str(text).strip().rstrip(".").lower() or exc.__class__.__name__


class VideoDecoder:
    """Opens a video file and iterates its frames within the limits."""

    def __init__(self, path: Path, limits: MediaLimits) -> None:
        self.limits = limits
        try:
            self._container = av.open(str(path), mode="r", metadata_errors="ignore")
        except av.error.FFmpegError as exc:
            raise MediaError(f"not a decodable video: {_av_message(exc)}") from None
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            raise MediaError(f"not a decodable video: {_av_message(exc)}") from None
        streams = self._container.streams.video
        if not streams:
            self.close()
            raise MediaError("the file has no video stream")
        self._stream = streams[0]
        self._reformatters: dict[tuple[int, int, str], VideoReformatter] = {}
        # Frame threading uses every core; slice threading alone leaves H.264 mostly serial.
        self._stream.thread_type = "AUTO"
        ctx = self._stream.codec_context
        width, height = int(ctx.width or 0), int(ctx.height or 0)
        if width * height > limits.max_frame_pixels:
            self.close()
            raise MediaError(
                f"the video declares {width}x{height} frames, over the limit of "
                f"{limits.max_frame_pixels:,} pixels"
            )
        rate = self._stream.average_rate or self._stream.guessed_rate
        fps = float(rate) if rate and float(rate) > 0 else None
        duration = None
        if self._stream.duration is not None and self._stream.time_base:
            duration = float(self._stream.duration * self._stream.time_base)
        elif self._container.duration:
            duration = self._container.duration / 1_000_000
        self.info = VideoInfo(
            width=width, height=height, fps=fps, duration=duration, codec=ctx.name or "?"
        )

    def close(self) -> None:
        self._container.close()

    def __enter__(self) -> VideoDecoder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _seconds(self, frame: av.VideoFrame, index: int, start: float | None) -> float:
        if frame.pts is not None and frame.time_base:
            seconds = float(frame.pts * Fraction(frame.time_base))
            return seconds - (start or 0.0)
        fps = self.info.fps or 25.0
        return index / fps

    def frames(self) -> Iterator[VideoFrame]:
        limits = self.limits
        deadline = time.monotonic() + limits.max_decode_seconds
        index = 0
        consecutive_errors = 0
        start: float | None = None
        try:
            for packet in self._container.demux(self._stream):
                try:
                    decoded = packet.decode()
                    consecutive_errors = 0
                except av.error.InvalidDataError:
                    # Damaged packets happen in real uploads; skip them like players do.
                    consecutive_errors += 1
                    if consecutive_errors > _MAX_CONSECUTIVE_DECODE_ERRORS:
                        raise MediaError(
                            "the video stream is corrupt (no decodable frames)"
                        ) from None
                    continue
                for frame in decoded:
                    if frame.width * frame.height > limits.max_frame_pixels:
                        raise MediaError(
                            f"a frame of {frame.width}x{frame.height} pixels is over the limit"
                        )
                    if start is None and frame.pts is not None and frame.time_base:
                        start = float(frame.pts * Fraction(frame.time_base))
                    seconds = self._seconds(frame, index, start)
                    if index >= limits.max_video_frames or seconds > limits.max_video_seconds:
                        raise MediaError(
                            "the video is longer than the limit of "
                            f"{limits.max_video_seconds / 3600:g} hours / "
                            f"{limits.max_video_frames:,} frames"
                        )
                    if not math.isfinite(seconds):
                        seconds = index / (self.info.fps or 25.0)
                    yield VideoFrame(frame, index, seconds, self._reformatters)
                    index += 1
                if time.monotonic() > deadline:
                    raise MediaError(
                        f"decoding took longer than the limit of {limits.max_decode_seconds:g} s"
                    )
        except av.error.FFmpegError as exc:
            if index == 0:
                raise MediaError(f"not a decodable video: {_av_message(exc)}") from None
            # A partly decodable video yields the frames before the damage, as players show
            # them: uploads cut short are common, and a truncated copy of banked content must
            # still match rather than slip through as an error. Damaged packets in the middle
            # are skipped above for the same reason; FFmpeg ends some truncated files silently
            # and others with an error, and both now give the same result.
            logger.warning(
                "video truncated or corrupt after frame %d (%s); hashing the frames decoded",
                index,
                _av_message(exc),
            )
        if index == 0:
            raise MediaError("the video has no decodable frames")
