"""Live streams on loopback for the live-monitor tests and benchmark (no internet, PyAV only).

- `compose_stream` encodes a stream file once: unrelated footage with, optionally, a banked
  clip in the middle, disguised the way re-streams are (rescaled to the stream's size,
  re-encoded, a channel logo and a lower-third banner drawn over it).
- `LiveHttpServer` puts files "on air" over HTTP (MPEG-TS or FLV): from the moment a file is
  added its stream time runs with the wall clock, and a client that connects gets it from the
  live position (at the next keyframe), paced in real time, as from a streaming server.
- `HlsPublisher` muxes a file in real time into a live HLS playlist (PyAV's HLS muxer) in a
  directory served over HTTP.
- `SilentServer` accepts connections and never answers (a stream that never starts).
- `RtmpServer` runs nginx with its RTMP module (Debian: `nginx-light libnginx-mod-rtmp`) on a
  loopback port, and `RtmpPublisher` pushes a file to it in real time, as OBS does; PyAV
  cannot serve RTMP itself (it opens output URLs without protocol options, so FFmpeg's
  `listen` mode is out of reach).
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np


@dataclass(frozen=True)
class Part:
    """`seconds` of `path` from `start` (looped when the clip is shorter)."""

    path: Path
    seconds: float
    start: float = 0.0
    disguise: bool = False


@dataclass(frozen=True)
class Composed:
    path: Path
    # (clip name, start, end) in stream seconds.
    parts: list[tuple[str, float, float]]
    fps: int
    size: tuple[int, int]

    def span(self, name: str) -> tuple[float, float]:
        return next((a, b) for n, a, b in self.parts if n == name)


def _disguise(rgb: np.ndarray) -> np.ndarray:
    """A half-transparent channel logo (top right) and a brighter, warmer picture, as
    re-streams change them. PDQ, like every global hash, tolerates small overlays only: a news
    ticker along the bottom moves this footage 15 more bits, past the match threshold."""
    out = rgb.astype(np.float32) * np.array([1.08, 1.04, 0.98], dtype=np.float32) + 6.0
    height, width = out.shape[:2]
    logo_w, logo_h = width // 10, height // 10
    y0, x0 = height // 25, width - logo_w - width // 30
    tile = (np.indices((logo_h, logo_w)).sum(axis=0) // 6 % 2)[..., None] * 200.0 + 30.0
    logo = out[y0 : y0 + logo_h, x0 : x0 + logo_w]
    out[y0 : y0 + logo_h, x0 : x0 + logo_w] = 0.5 * logo + 0.5 * tile
    return out.clip(0, 255).astype(np.uint8)


def _clip_frames(part: Part, fps: int, size: tuple[int, int]) -> list[np.ndarray]:
    """RGB frames of one part at the stream's rate and size."""
    wanted = round(part.seconds * fps)
    with av.open(str(part.path)) as clip:
        rate = float(clip.streams.video[0].average_rate or fps)
        # Only the source frames that are used are converted (the clip loops if short).
        needed = {int(part.start * rate) + int(i * rate / fps) for i in range(wanted)}
        source: list[np.ndarray] = []
        for frame in clip.decode(video=0):
            index = len(source)
            if index > max(needed):
                break
            source.append(
                frame.reformat(width=size[0], height=size[1], format="rgb24").to_ndarray()
                if index in needed else np.zeros(0, np.uint8)
            )
    first = int(part.start * rate)
    frames = []
    for i in range(wanted):
        index = first + int(i * rate / fps)
        if index >= len(source) or not source[index].size:
            index = index % len(source)
            if not source[index].size:
                source[index] = source[index - 1] if source[index - 1].size else source[0]
        rgb = source[index]
        frames.append(_disguise(rgb) if part.disguise else rgb)
    return frames


def compose_stream(
    out: Path,
    parts: list[Part],
    size: tuple[int, int] = (1280, 720),
    fps: int = 30,
    gop_seconds: float = 2.0,
    preset: str = "veryfast",
    fmt: str = "mpegts",
    codec: str = "libx264",
) -> Composed:
    """Encode the parts into one stream file (H.264 with B-frames, fixed GOP, like OBS)."""
    spans = []
    position = 0.0
    for part in parts:
        spans.append((part.path.stem, position, position + part.seconds))
        position += part.seconds
    composed = Composed(out, spans, fps, size)
    if out.exists():
        return composed
    partial = out.with_name(out.name + ".part")
    options = {"g": str(max(1, round(gop_seconds * fps))), "sc_threshold": "0"}
    if codec == "libx264":
        options.update({"preset": preset, "bf": "2", "threads": "2"})
    with av.open(str(partial), "w", format=fmt) as container:
        stream = container.add_stream(codec, rate=fps, options=options)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        stream.bit_rate = 2_500_000
        index = 0
        for part in parts:
            for rgb in _clip_frames(part, fps, size):
                frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
                frame.pts, frame.time_base = index, Fraction(1, fps)
                container.mux(stream.encode(frame))
                index += 1
        container.mux(stream.encode(None))
    partial.rename(out)
    return composed


# --- publishing --------------------------------------------------------------------------

@dataclass
class Channel:
    path: Path
    fmt: str
    on_air: float  # time.time() when stream time 0 was broadcast
    once: bool = False
    cut_after: float | None = None
    # (after, seconds): the connection stays open but nothing is sent for a while.
    pause: tuple[float, float] | None = None
    # Send the MPEG-TS file's own bytes paced by their timestamps instead of remuxing: nearly
    # free, so one process can publish many streams without falling behind.
    raw: bool = False
    served: int = 0
    clients: list[Any] = field(default_factory=list)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    channels: dict[str, Channel]
    closing: threading.Event


class _LiveHandler(http.server.BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        channel = self.server.channels.get(self.path.lstrip("/"))
        if channel is None or (channel.once and channel.served):
            self.send_error(404)
            return
        channel.served += 1
        self.send_response(200)
        kind = "video/mp2t" if channel.fmt == "mpegts" else "video/x-flv"
        self.send_header("Content-Type", kind)
        self.send_header("Connection", "close")
        self.end_headers()
        with contextlib.suppress(OSError, av.error.FFmpegError, ValueError):
            if channel.raw:
                _send_raw(channel, self.wfile, self.server.closing)
            else:
                _play(channel, self.wfile, self.server.closing)


def _play(channel: Channel, sink: Any, closing: threading.Event) -> None:
    """Remux the channel's file into `sink` from the live position, in real time."""
    joined = time.time() - channel.on_air
    with av.open(str(channel.path)) as source:
        video = source.streams.video[0]
        with av.open(sink, "w", format=channel.fmt) as out:
            stream = out.add_stream_from_template(video)
            started = False
            on_air = channel.on_air
            pause = channel.pause
            for packet in source.demux(video):
                if packet.dts is None or closing.is_set():
                    continue
                t = float(packet.dts * packet.time_base)
                if not started:
                    if t < joined or not packet.is_keyframe:
                        continue
                    started, joined = True, t
                if channel.cut_after is not None and t - joined > channel.cut_after:
                    # Abrupt end: half a packet, then the connection drops.
                    sink.write(bytes(packet)[: max(1, packet.size // 2)])
                    return
                if pause is not None and t - joined >= pause[0]:
                    sink.flush()
                    if closing.wait(pause[1]):
                        return
                    on_air, pause = on_air + pause[1], None
                delay = on_air + t - time.time()
                if delay > 0 and closing.wait(delay):
                    return
                packet.stream = stream
                out.mux(packet)


_TS_PACKET = 188


@functools.lru_cache(maxsize=64)
def _ts_index(path: Path) -> tuple[list[tuple[float, int, bool]], int]:
    """(stream seconds, byte offset, keyframe) of each video packet of an MPEG-TS file,
    and its size."""
    index = []
    with av.open(str(path)) as source:
        for packet in source.demux(source.streams.video[0]):
            if packet.dts is None or packet.pos is None or packet.pos < 0:
                continue
            start = packet.pos - packet.pos % _TS_PACKET
            index.append((float(packet.dts * packet.time_base), start, packet.is_keyframe))
    return index, path.stat().st_size


def _send_raw(channel: Channel, sink: Any, closing: threading.Event) -> None:
    """The file's bytes from the live position (a keyframe, after the first table packets),
    each packet's bytes sent when its time has come."""
    index, size = _ts_index(channel.path)
    joined = time.time() - channel.on_air
    first = next((i for i, (t, _, key) in enumerate(index) if key and t >= joined), None)
    if first is None:
        return
    base = index[first][0]
    with channel.path.open("rb") as source:
        # The program tables (PAT, PMT) come first in the file; a player needs them to start.
        sink.write(source.read(2 * _TS_PACKET))
        for i in range(first, len(index)):
            t, start, _ = index[i]
            end = index[i + 1][1] if i + 1 < len(index) else size
            if channel.cut_after is not None and t - base > channel.cut_after:
                source.seek(start)
                sink.write(source.read(max(1, (end - start) // 2)))
                return
            delay = channel.on_air + t - time.time()
            if delay > 0 and closing.wait(delay):
                return
            source.seek(start)
            sink.write(source.read(end - start))
            sink.flush()


class LiveHttpServer:
    """Files on air over HTTP on 127.0.0.1; see the module docs."""

    def __init__(self) -> None:
        self._server = _Server(("127.0.0.1", 0), _LiveHandler)
        self._server.channels = {}
        self._server.closing = threading.Event()
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def base(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def add(
        self,
        name: str,
        path: Path,
        fmt: str = "mpegts",
        on_air: float | None = None,
        once: bool = False,
        cut_after: float | None = None,
        pause: tuple[float, float] | None = None,
        raw: bool = False,
    ) -> str:
        start = time.time() if on_air is None else on_air
        channel = Channel(path, fmt, start, once, cut_after, pause, raw=raw)
        self._server.channels[name] = channel
        return f"{self.base}/{name}"

    def channel(self, name: str) -> Channel:
        return self._server.channels[name]

    def close(self) -> None:
        self._server.closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def __enter__(self) -> LiveHttpServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def stop_process(process: subprocess.Popen[Any], timeout: float = 5.0) -> None:
    """Terminate a server or publisher process, killing it if it does not exit in time."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)


def play_in_real_time(path: Path, out: Any, on_air: float, closing: threading.Event) -> None:
    """Remux the video of `path` into the open output `out` from its start, each packet when
    its timestamp comes due after `on_air`; returns early when `closing` is set."""
    with av.open(str(path)) as source:
        video = source.streams.video[0]
        stream = out.add_stream_from_template(video)
        for packet in source.demux(video):
            if packet.dts is None:
                continue
            delay = on_air + float(packet.dts * packet.time_base) - time.time()
            if delay > 0 and closing.wait(delay):
                return
            packet.stream = stream
            out.mux(packet)


class HlsPublisher:
    """A file muxed in real time into a live HLS playlist, served over HTTP on 127.0.0.1."""

    def __init__(self, path: Path, directory: Path, segment_seconds: float = 1.0) -> None:
        self.path = path
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        handler = functools.partial(_QuietFiles, directory=str(directory))
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._closing = threading.Event()
        self._segment = segment_seconds
        self.on_air = time.time()
        self._threads = [
            threading.Thread(target=self._server.serve_forever, daemon=True),
            threading.Thread(target=self._mux, daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/live.m3u8"

    def _mux(self) -> None:
        options = {"hls_time": str(self._segment), "hls_list_size": "6",
                   "hls_flags": "delete_segments+independent_segments"}
        playlist = str(self.directory / "live.m3u8")
        with av.open(playlist, "w", format="hls", options=options) as out:
            play_in_real_time(self.path, out, self.on_air, self._closing)

    def wait_ready(self, timeout: float = 10.0) -> None:
        deadline = time.time() + timeout
        while not (self.directory / "live.m3u8").exists():
            if time.time() > deadline:
                raise TimeoutError("the HLS playlist did not appear")
            time.sleep(0.05)

    def close(self) -> None:
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()
        for thread in self._threads:
            thread.join(5)


class _QuietFiles(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return


class SilentServer:
    """Accepts TCP connections on 127.0.0.1 and never sends a byte."""

    def __init__(self) -> None:
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(16)
        self._socket.settimeout(0.2)
        self._held: list[socket.socket] = []
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._socket.getsockname()[1]}/live.ts"

    def _accept(self) -> None:
        while not self._closing.is_set():
            try:
                connection, _ = self._socket.accept()
            except (TimeoutError, OSError):
                continue
            self._held.append(connection)

    def close(self) -> None:
        self._closing.set()
        self._thread.join(5)
        for connection in self._held:
            connection.close()
        self._socket.close()


NGINX_RTMP_MODULE = Path("/usr/lib/nginx/modules/ngx_rtmp_module.so")


def rtmp_server_missing() -> str | None:
    """Why `RtmpServer` cannot run here, or None."""
    if shutil.which("nginx") is None:
        return "no nginx binary (apt-get install nginx-light libnginx-mod-rtmp)"
    if not NGINX_RTMP_MODULE.exists():
        return f"no nginx RTMP module at {NGINX_RTMP_MODULE} (apt-get install libnginx-mod-rtmp)"
    return None


class RtmpServer:
    """nginx-rtmp on 127.0.0.1: clients publish to and play from rtmp://.../live/NAME."""

    def __init__(self) -> None:
        self.port = free_port()
        self._dir = Path(tempfile.mkdtemp(prefix="cordon-rtmp-"))
        config = self._dir / "nginx.conf"
        config.write_text(
            f"load_module {NGINX_RTMP_MODULE};\n"
            f"pid {self._dir}/nginx.pid;\nerror_log {self._dir}/error.log;\n"
            "daemon off;\nworker_processes 1;\nevents { worker_connections 64; }\n"
            f"rtmp {{ server {{ listen 127.0.0.1:{self.port}; chunk_size 4096;\n"
            "  application live { live on; record off; } } }\n")
        self._process = subprocess.Popen(
            ["nginx", "-e", str(self._dir / "error.log"), "-p", str(self._dir), "-c",
             str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while True:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    break
            if self._process.poll() is not None or time.monotonic() > deadline:
                error = self._process.stderr.read().decode() if self._process.stderr else ""
                self.close()
                raise RuntimeError(f"nginx-rtmp did not start: {error.strip()}")
            time.sleep(0.05)

    def url(self, name: str) -> str:
        return f"rtmp://127.0.0.1:{self.port}/live/{name}"

    def close(self) -> None:
        stop_process(self._process)
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> RtmpServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class RtmpPublisher:
    """Pushes a file to an RTMP URL (FLV), paced in real time, on a thread."""

    def __init__(self, path: Path, url: str) -> None:
        self.path, self.url = path, url
        self.on_air = time.time()
        self.error: str | None = None
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._push, daemon=True)
        self._thread.start()

    def _push(self) -> None:
        try:
            with av.open(self.url, "w", format="flv") as out:
                play_in_real_time(self.path, out, self.on_air, self._closing)
        except (OSError, av.error.FFmpegError) as exc:
            self.error = str(exc)

    def wait(self, timeout: float) -> None:
        self._thread.join(timeout)

    def close(self) -> None:
        self._closing.set()
        self._thread.join(5)


def free_port() -> int:
    """A loopback port nothing listens on (for unreachable URLs)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
