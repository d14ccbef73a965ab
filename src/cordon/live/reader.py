"""Reading one live stream with PyAV: connect, demux, decode what the sampler needs.

Capacity comes from decoding less, not from hashing less: a 720p30 H.264 stream costs about
60 ms of CPU per second to decode in full, which is 30 streams on 2 cores with nothing left.
The decode modes (see docs/live.md for the measurements):

- `key`: only keyframe packets reach the decoder (the others are dropped after demuxing);
  one frame per GOP, nearly free, but a stream with 2 s GOPs is then sampled every 2 s;
- `fast`: every packet is decoded, but without the deblocking filter and without the frames
  nothing refers to (B-frames), about half the cost of a full decode; the slight blur this
  leaves is far below what PDQ sees at 64x64;
- `full`: everything, as a player does;
- `auto` (default): `fast`, switching to `key` while the stream's keyframes come at least as
  often as the sampling period, and back when they stop doing so.

The stream clock (`stream_seconds`) follows the frames' timestamps but never jumps: a
timestamp that goes back or leaps forward (encoder restart, wrap, splice) advances the clock by
one frame instead, so alerts keep a clock that makes sense across discontinuities and
reconnections.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

import av
import av.error
import numpy as np

from cordon.errors import MediaError
from cordon.live.luma import frame_luma, sample_step
from cordon.live.sources import Source, SourceKind
from cordon.live.srt import RelayPipe
from cordon.media.limits import MediaLimits

DECODE_MODES = ("auto", "fast", "full", "key")
# A stream whose packets keep failing to decode has changed codec or is garbage.
_MAX_DECODE_ERRORS = 50
# A timestamp step larger than this is a discontinuity, not time passing.
_MAX_STEP = 5.0
_DEFAULT_STEP = 1 / 30


class StreamEnded(Exception):
    """The source reached its end (EOF)."""


@dataclass(frozen=True)
class ReaderConfig:
    # Frames hashed per second at most; 0: every decoded frame (see `cordon.live` docs: banked
    # video is usually hashed at 1 frame per second, and in moving footage only the live frames
    # within a frame or two of a banked instant match it).
    fps: float = 0.0
    # PDQ's blur is summed over every k-th row and column of the frame's luma, k the largest
    # whole step that reads at least this many pixels on the short side (3 for 720p, 4 for
    # 1080p; see cordon.live.luma): within 1-3 bits of the full-size hash on average, at a
    # fraction of the cost.
    hash_side: int = 240
    # A network stream more than this many seconds behind live (the monitor short of CPU, or
    # started late) skips to live: only keyframes are decoded until it is within half a
    # second again, and decoding resumes at a keyframe. 0: never skip.
    catch_up_after: float = 3.0
    # Seconds a connection may take to deliver its first packet without counting as behind
    # (connecting, and waiting for the next keyframe of a 2 s GOP).
    join_allowance: float = 2.5
    decode: str = "auto"
    # A local file is played in real time, as if live; False reads it as fast as it decodes
    # (the benchmark's measure of CPU per second of stream, whatever the machine's load).
    pace_files: bool = True
    open_timeout: float = 10.0
    read_timeout: float = 5.0
    # Bytes and microseconds FFmpeg may spend probing a stream before the first frame.
    probe_size: int = 1_000_000
    analyze_duration: int = 1_000_000
    limits: MediaLimits = field(default_factory=MediaLimits)


@dataclass(frozen=True)
class Sample:
    """One sampled frame, reduced for hashing."""

    stream_seconds: float
    # The frame's luma plane (2-D uint8, a view of the decoded frame; see cordon.live.luma),
    # hashed every `step` pixels.
    luma: np.ndarray
    arrived: float  # time.monotonic() when it was decoded
    width: int
    height: int
    step: int = 1


class StreamClock:
    """Monotonic stream time from frame timestamps that may jump; see the module docs."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._last: float | None = None
        self._step = _DEFAULT_STEP
        self._started = False

    def reconnected(self) -> None:
        self._last = None

    def advance(self, pts_seconds: float | None) -> float:
        if not self._started:
            self._started = True
            self._last = pts_seconds
            return self.seconds
        if pts_seconds is None or self._last is None:
            self.seconds += self._step
        else:
            step = pts_seconds - self._last
            if 0 < step <= _MAX_STEP:
                self.seconds += step
                self._step = min(step, 1.0)
            else:
                self.seconds += self._step
        self._last = pts_seconds
        return self.seconds


class LiveEdge:
    """How far a connection is behind live, from the packets' timestamps against the wall
    clock: the newest packet's time is live when it came no earlier than the pace of the
    packets before it allows (reading from a backlog is faster than that) or when a read had
    to wait for the network. Timestamp jumps move neither clock."""

    # A read that waits this long for data is at the live edge (not reading a backlog).
    _WAITED = 0.5

    def __init__(self, opened_at: float, allowance: float) -> None:
        self._wall = opened_at + allowance
        self._stream = 0.0
        self._clock = StreamClock()
        self.lag = 0.0

    def packet(self, now: float, dts: float | None, waited: float) -> float:
        t = self._clock.advance(dts)
        lag = (now - self._wall) - (t - self._stream)
        if lag <= 0 or waited >= self._WAITED:
            self._wall, self._stream, lag = now, t, 0.0
        self.lag = lag
        return lag


class _KeyframeCadence:
    """Decides, for `auto`, whether keyframes alone sample the stream often enough."""

    def __init__(self, period: float) -> None:
        self.period = period
        self._gaps: deque[float] = deque(maxlen=4)
        self._last: float | None = None

    def keyframe(self, seconds: float | None) -> None:
        if seconds is None:
            return
        if self._last is not None and seconds > self._last:
            self._gaps.append(seconds - self._last)
        self._last = seconds

    def since_last(self, seconds: float | None) -> float:
        return 0.0 if seconds is None or self._last is None else seconds - self._last

    @property
    def short_enough(self) -> bool:
        return len(self._gaps) >= 2 and max(self._gaps) <= self.period * 1.05


def _message(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return str(text).strip().rstrip(".").lower() or exc.__class__.__name__


class StreamReader:
    """One connection to a source; `samples()` yields the frames to hash until the stream
    ends (StreamEnded) or fails (MediaError). Open it again to reconnect."""

    def __init__(
        self,
        source: Source,
        config: ReaderConfig,
        clock: StreamClock,
        stop: threading.Event,
        stdin: IO[bytes] | None = None,
    ) -> None:
        self.source = source
        self.config = config
        self.clock = clock
        self._stop = stop
        self._stdin = stdin
        self._relay: RelayPipe | None = None
        self._container: Any = None
        self.frames_decoded = 0
        self.mode = "fast" if config.decode == "auto" else config.decode
        self._opened_at = time.monotonic()
        self.edge: LiveEdge | None = None
        # Skipping to live: non-key packets are dropped (see ReaderConfig.catch_up_after).
        self.catching_up = False
        self.catch_ups = 0

    def open(self) -> None:
        config = self.config
        self._opened_at = time.monotonic()
        options = {
            "probesize": str(config.probe_size),
            "analyzeduration": str(config.analyze_duration),
            "fflags": "nobuffer",
        }
        target: Any = self.source.target
        timeout: tuple[float, float] | None = None
        if self.source.kind is SourceKind.NETWORK and target.lower().startswith("srt://"):
            # No srt protocol in this FFmpeg: received by a relay (cordon.live.srt), whose
            # pipe reader keeps the open and read timeouts.
            self._relay = RelayPipe(target, config.open_timeout, config.read_timeout,
                                    self._stop)
            target = self._relay
        elif self.source.kind is SourceKind.NETWORK:
            # rw_timeout bounds each socket read; PyAV's timeout (an interrupt callback) bounds
            # opening and reading at the FFmpeg level, whatever the protocol.
            options["rw_timeout"] = str(int(config.read_timeout * 1_000_000))
            # Join a live HLS playlist at its newest segment, not three segments back.
            options["live_start_index"] = "-1"
            timeout = (config.open_timeout, config.read_timeout)
        elif self.source.kind is SourceKind.STDIN:
            if self._stdin is None:
                raise MediaError("standard input is not available")
            target = self._stdin
        try:
            self._container = av.open(
                target, mode="r", options=options, timeout=timeout, metadata_errors="ignore"
            )
        except av.error.FFmpegError as exc:
            raise MediaError(f"cannot open the stream: {_message(exc)}") from None
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            raise MediaError(f"cannot open the stream: {_message(exc)}") from None
        self.clock.reconnected()

    def close(self) -> None:
        if self._container is not None:
            with contextlib.suppress(av.error.FFmpegError, OSError):
                self._container.close()
            self._container = None
        if self._relay is not None:
            self._relay.close()
            self._relay = None

    def describe(self) -> str:
        container = self._container
        if container is None or not container.streams.video:
            return "no video"
        ctx = container.streams.video[0].codec_context
        return f"{ctx.name} {ctx.width}x{ctx.height} ({container.format.name})"

    def samples(self) -> Iterator[Sample]:
        container = self._container
        if container is None:
            raise MediaError("the stream is not open")
        if not container.streams.video:
            raise MediaError("the stream has no video")
        stream = container.streams.video[0]
        ctx = stream.codec_context
        # One thread per stream: with many streams the cores are shared between streams,
        # and frame threading would delay every frame by the number of threads.
        ctx.thread_count = 1
        if self.mode in ("fast", "key"):
            ctx.options = {"skip_loop_filter": "all"}
            if self.mode == "fast":
                ctx.skip_frame = "NONREF"
        period = 1.0 / self.config.fps if self.config.fps > 0 else 0.0
        cadence = _KeyframeCadence(period)
        limits = self.config.limits
        realtime = self.source.kind is SourceKind.FILE and self.config.pace_files
        # Demuxed packets and the frames decoded from them carry the stream's time base;
        # converting it once spares three Fraction objects per timestamp read.
        time_base = float(stream.time_base) if stream.time_base else None
        anchor: float | None = None
        next_sample = -1.0
        errors = 0
        edge = None
        if self.source.kind is SourceKind.NETWORK and self.config.catch_up_after > 0:
            edge = self.edge = LiveEdge(self._opened_at, self.config.join_allowance)
        requested = time.monotonic()
        try:
            for packet in container.demux(stream):
                if self._stop.is_set():
                    return
                if packet.size == 0:
                    continue
                if edge is not None:
                    now = time.monotonic()
                    lag = edge.packet(now, _seconds(packet.dts, time_base),
                                      now - requested)
                    if self._skip_to_live(lag, packet.is_keyframe):
                        requested = time.monotonic()
                        continue
                pts = _seconds(packet.pts, time_base)
                if packet.is_keyframe:
                    cadence.keyframe(pts)
                    if self.config.decode == "auto":
                        self._switch(ctx, "key" if cadence.short_enough else "fast")
                elif self.mode == "key":
                    if self.config.decode != "auto" or cadence.since_last(pts) <= period * 1.05:
                        continue
                    # Keyframes stopped coming as often: decode everything again.
                    self._switch(ctx, "fast")
                try:
                    frames = packet.decode()
                    errors = 0
                except av.error.InvalidDataError:
                    errors += 1
                    if errors > _MAX_DECODE_ERRORS:
                        raise MediaError("the video stream cannot be decoded "
                                         "(corrupt, or its codec changed)") from None
                    continue
                for frame in frames:
                    if frame.width * frame.height > limits.max_frame_pixels:
                        raise MediaError(
                            f"a frame of {frame.width}x{frame.height} pixels is over the limit"
                        )
                    self.frames_decoded += 1
                    t = self.clock.advance(_seconds(frame.pts, time_base))
                    if realtime:
                        anchor = self._pace(anchor, t)
                    if t + 1e-6 < next_sample:
                        continue
                    next_sample = t + period if next_sample < 0 or t - next_sample > period \
                        else next_sample + period
                    yield self._sample(frame, t)
                requested = time.monotonic()
        except av.error.FFmpegError as exc:
            raise MediaError(f"the stream failed: {_message(exc)}") from None
        except (OSError, ValueError) as exc:
            raise MediaError(f"the stream failed: {_message(exc)}") from None
        raise StreamEnded

    def _skip_to_live(self, lag: float, keyframe: bool) -> bool:
        """True when this packet is dropped to catch up with live."""
        if not self.catching_up:
            if lag <= self.config.catch_up_after:
                return False
            self.catching_up = True
            self.catch_ups += 1
        elif lag < 0.5 and keyframe:
            self.catching_up = False
            return False
        return not keyframe

    def _switch(self, ctx: Any, mode: str) -> None:
        if mode != self.mode:
            self.mode = mode
            ctx.skip_frame = "DEFAULT" if mode == "key" else "NONREF"

    def _pace(self, anchor: float | None, t: float) -> float:
        """Play a local file in real time: wait until the frame's time has come."""
        now = time.monotonic()
        if anchor is None:
            return now - t
        delay = anchor + t - now
        if delay > 0:
            self._stop.wait(delay)
        return anchor

    def _sample(self, frame: av.VideoFrame, t: float) -> Sample:
        step = sample_step(frame.width, frame.height, self.config.hash_side)
        return Sample(t, frame_luma(frame), time.monotonic(), frame.width, frame.height, step)


def _seconds(pts: int | None, time_base: float | None) -> float | None:
    if pts is None or not time_base:
        return None
    return pts * time_base
