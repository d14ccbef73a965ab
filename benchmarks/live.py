"""Live-stream monitoring: detection latency, false alerts and capacity on real streams.

    .venv/bin/python benchmarks/live.py [--levels 10,20,30,40] [--seconds 34]

Streams are 1280x720 30 fps H.264 (x264 veryfast, 2.5 Mbit/s, B-frames, fixed 2 s GOP, as
OBS sends them), published as live MPEG-TS over HTTP on loopback by a separate process (so
its CPU is not counted against the monitor). Half of them are re-streams: unrelated footage,
then a banked clip cut in (rescaled to 720p, re-encoded, brighter, a channel logo drawn
over it) at one of four GOP phases, then unrelated footage again; the other half are
unrelated footage only. Publishing sends each pre-made MPEG-TS file's bytes when their
timestamps come due (`--remux`: remux with PyAV instead, which costs the publisher CPU that
the monitor then lacks on a 2-core machine). One monitor process watches N of them at once:

- latency: seconds from the moment the banked clip starts on air to the alert;
- false alerts: alerts on unrelated streams, or before the banked clip started;
- CPU: process CPU time over wall time of the monitor (cores), and per stream.

Also measured: the single-thread decode cost of one stream per decode mode, and the cost of
hashing its decoded frames (the luma path the monitor uses against RGB frames reduced to
320x180 and hashed with `pdqhash`, the path before it).
"""

from __future__ import annotations

import argparse
import multiprocessing
import queue
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import av
from av.video.reformatter import VideoReformatter

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import percentile, print_table, write_json
from benchmarks._media import CACHE, SHARED
from benchmarks._streams import Composed, LiveHttpServer, Part, compose_stream
from cordon.hashing import hash_file
from cordon.live import LiveIndex, MatchEvent, Monitor, MonitorConfig, ReaderConfig
from cordon.live.luma import frame_luma, hash_luma, sample_step
from cordon.signals import get_signal_type
from cordon.signals.pdq import hash_rgb

BANKED = SHARED / "interop" / "video" / "chair-orig-22-sd-bar.mp4"
BANKED_NAME = BANKED.stem
# Where the banked clip is cut in: four phases of the 2 s GOP.
CUTS = (12.0, 12.5, 13.2, 13.7)
STREAM_SECONDS = 30.0


def _unrelated() -> list[Path]:
    corpus = SHARED / "corpus" / "videos"
    interop = SHARED / "interop" / "video"
    return [corpus / "bikes.mp4", corpus / "bigbuckbunny.mp4", corpus / "carphone_pristine.mp4",
            interop / "pattern-hd-no-bar.mp4", interop / "doorknob-hd-no-bar.mp4",
            interop / "test-padded-dimensions.mp4"]


def _clip_start(restream: int) -> float:
    """Where in the banked clip re-stream number `restream` cuts in (seconds)."""
    return 2.0 + restream


def build_streams() -> tuple[list[Composed], list[Composed]]:
    out = CACHE / "live"
    out.mkdir(parents=True, exist_ok=True)
    clips = _unrelated()
    restreams, unrelated = [], []
    for i, cut in enumerate(CUTS):
        a, b = clips[i % len(clips)], clips[(i + 1) % len(clips)]
        parts = [Part(a, cut / 2), Part(b, cut / 2, start=1.0),
                 Part(BANKED, 10.0, start=_clip_start(i), disguise=True),
                 Part(clips[(i + 2) % len(clips)], STREAM_SECONDS - cut - 10.0)]
        restreams.append(compose_stream(out / f"restream-{i}.ts", parts))
    for i in range(2):
        parts = [Part(clips[(i + k) % len(clips)], STREAM_SECONDS / 5, start=0.5 * k)
                 for k in range(5)]
        unrelated.append(compose_stream(out / f"unrelated-{i}.ts", parts))
    return restreams, unrelated


def _publish(channels: list[tuple[str, str, float]], ready: Any, done: Any,
             raw: bool) -> None:
    with LiveHttpServer() as server:
        for name, path, on_air in channels:
            server.add(name, Path(path), on_air=on_air, once=True, raw=raw)
        ready.put(server.base)
        done.wait()


def decode_costs(path: Path) -> list[list[Any]]:
    """CPU seconds per second of stream to decode one stream on one thread, per mode."""
    rows = []
    for mode, options, skip in [("full", {}, None), ("no deblocking", {"skip_loop_filter": "all"},
                                None), ("fast (no deblocking, no B)", {"skip_loop_filter": "all"},
                                "NONREF"), ("key (keyframes only)", {}, "KEY")]:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.codec_context.thread_count = 1
            stream.codec_context.options = options
            if skip == "NONREF":
                stream.codec_context.skip_frame = "NONREF"
            frames, start = 0, time.process_time()
            for packet in container.demux(stream):
                if skip == "KEY" and not packet.is_keyframe:
                    continue
                frames += len(packet.decode())
            cpu = time.process_time() - start
        rows.append([mode, frames, cpu / STREAM_SECONDS * 1000, 2000 / (cpu / STREAM_SECONDS
                                                                         * 1000)])
    return rows


def hash_costs(path: Path) -> list[list[Any]]:
    """CPU ms per second of stream to hash the frames `fast` decoding gives (about 20 a
    second), on one thread: decoding is timed apart and not counted."""
    reformatter = VideoReformatter()
    side = ReaderConfig().hash_side

    def rgb_320(frame: av.VideoFrame) -> object:
        return hash_rgb(reformatter.reformat(frame, format="rgb24", width=320, height=180,
                                             interpolation="AREA").to_ndarray())

    def luma(frame: av.VideoFrame) -> object:
        return hash_luma(frame_luma(frame), sample_step(frame.width, frame.height, side))

    frames = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.codec_context.thread_count = 1
        stream.codec_context.options = {"skip_loop_filter": "all"}
        stream.codec_context.skip_frame = "NONREF"
        for packet in container.demux(stream):
            frames.extend(packet.decode())
            if len(frames) >= 200:
                break
    rows = []
    step = sample_step(frames[0].width, frames[0].height, side)
    for name, hasher in [("RGB 320x180 (swscale) + pdqhash", rgb_320),
                         (f"luma plane, every {step} pixels + NumPy PDQ", luma)]:
        start = time.process_time()
        for frame in frames:
            hasher(frame)
        per_frame = (time.process_time() - start) / len(frames)
        rows.append([name, per_frame * 1000, per_frame * 1000 * 20])
    return rows


def throughput(index: LiveIndex, restreams: list[Composed], unrelated: list[Composed],
               count: int, decode: str, fps: float) -> dict[str, Any]:
    """The monitor's CPU per second of stream, on `count` streams read from their files as
    fast as they decode (one thread each, as live): a figure that does not depend on the CPU
    the process gets on a shared machine, unlike the live runs, which fall behind when it
    is short."""
    plan = [restreams[i // 2 % len(restreams)] if i % 2 == 0 else unrelated[i // 2 % len(unrelated)]
            for i in range(count)]
    config = MonitorConfig(reader=ReaderConfig(fps=fps, decode=decode, pace_files=False),
                           max_streams=count)
    monitor = Monitor(index, config)
    cpu0, wall0 = time.process_time(), time.monotonic()
    ids = {monitor.start(str(composed.path)): composed for composed in plan}
    monitor.wait()
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    status = monitor.status()
    monitor.close()
    alerted = set()
    while not monitor.events.empty():
        event = monitor.events.get()
        if isinstance(event, MatchEvent) and event.kind == "alert":
            alerted.add(event.stream_id)
    seconds = sum(s.stream_seconds for s in status)
    return {
        "streams": count, "stream_seconds": round(seconds, 1), "cpu_seconds": round(cpu, 2),
        "cores": round(cpu / wall, 2),
        "cpu_ms_per_stream_second": round(cpu / seconds * 1000, 1),
        "frames_decoded": sum(s.frames_decoded for s in status),
        "restreams_alerted": f"{sum(ids[i] in restreams for i in alerted)}/"
                             f"{sum(c in restreams for c in plan)}",
        "false_alerts": sum(ids[i] in unrelated for i in alerted),
    }


def run_level(index: LiveIndex, restreams: list[Composed], unrelated: list[Composed],
              count: int, seconds: float, decode: str, fps: float,
              per_publisher: int, raw: bool = True) -> dict[str, Any]:
    """Watch `count` live streams (half re-streams) for `seconds`."""
    on_air = time.time() + 1.0
    plan = []
    for i in range(count):
        composed = restreams[i // 2 % len(restreams)] if i % 2 == 0 \
            else unrelated[i // 2 % len(unrelated)]
        # Re-streams of one file go on air a little apart, so they do not decode in lockstep.
        plan.append((f"s{i}.ts", composed, on_air + (i % 7) * 0.13))
    # Several publishing processes: one Python process remuxing 16+ streams in real time
    # falls behind, and the monitor would then be measured against a late publisher.
    context = multiprocessing.get_context("spawn")
    done = context.Event()
    publishers, bases = [], []
    for first in range(0, count, per_publisher):
        ready = context.Queue()
        chunk = [(n, str(c.path), t) for n, c, t in plan[first:first + per_publisher]]
        process = context.Process(target=_publish, args=(chunk, ready, done, raw),
                                  daemon=True)
        process.start()
        publishers.append((process, ready))
    for _, ready in publishers:
        bases.append(ready.get(timeout=60))
    config = MonitorConfig(reader=ReaderConfig(fps=fps, decode=decode), max_streams=count,
                           allow_private=True, max_reconnects=0)
    monitor = Monitor(index, config)
    urls = {}
    for i, (name, composed, start) in enumerate(plan):
        urls[monitor.start(f"{bases[i // per_publisher]}/{name}")] = (composed, start)
    cpu0, wall0 = time.process_time(), time.monotonic()
    alerts: list[tuple[str, MatchEvent]] = []
    deadline = wall0 + seconds
    while time.monotonic() < deadline:
        try:
            event = monitor.events.get(timeout=0.2)
        except queue.Empty:
            continue
        if isinstance(event, MatchEvent) and event.kind == "alert":
            alerts.append((event.stream_id, event))
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    status = monitor.status()
    monitor.close()
    done.set()
    for process, _ in publishers:
        process.join(10)
    latencies: list[float] = []
    shown: list[float] = []
    false_alerts = 0
    for stream_id, event in alerts:
        composed, start = urls[stream_id]
        if composed in unrelated:
            false_alerts += 1
            continue
        banked_at = start + composed.span(BANKED_NAME)[0]
        latency = event.detected_at.timestamp() - banked_at
        if latency < 0:
            false_alerts += 1
        else:
            latencies.append(latency)
            # How much of the banked clip had been on air when the frame that completed the
            # evidence was shown: the matching's share of the latency, whatever the CPU load.
            if event.ref_seconds is not None:
                shown.append(event.ref_seconds - _clip_start(restreams.index(composed)))
    expected = sum(1 for _, c, _ in plan if c in restreams)
    lags = [s.lag_seconds for s in status]
    return {
        "streams": count, "decode": decode, "fps": fps, "seconds": round(wall, 1),
        "cpu_cores": round(cpu / wall, 3), "cpu_ms_per_stream_second": round(cpu / wall / count
                                                                              * 1000, 1),
        "restreams": expected, "detected": len(latencies), "false_alerts": false_alerts,
        "latency_median": round(statistics.median(latencies), 3) if latencies else None,
        "latency_p95": round(percentile(latencies, 95), 3) if latencies else None,
        "latency_max": round(max(latencies), 3) if latencies else None,
        "lag_max": round(max(lags), 3) if lags else None,
        "lag_median": round(statistics.median(lags), 3) if lags else None,
        "shown_median": round(statistics.median(shown), 3) if shown else None,
        "shown_p95": round(percentile(shown, 95), 3) if shown else None,
        "decode_modes": sorted({s.decode_mode for s in status}),
        "frames_hashed": sum(s.frames_hashed for s in status),
    }


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One row per level: medians of the repeated runs (counts summed)."""
    if len(runs) == 1:
        return runs[0]
    row = dict(runs[0])
    for key in ("cpu_cores", "cpu_ms_per_stream_second", "latency_median", "latency_p95",
                "latency_max", "lag_max", "lag_median", "shown_median", "shown_p95"):
        values = [r[key] for r in runs if r[key] is not None]
        row[key] = round(statistics.median(values), 3) if values else None
    for key in ("restreams", "detected", "false_alerts", "frames_hashed"):
        row[key] = sum(r[key] for r in runs)
    row["runs"] = runs
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--levels", default="8,16,24,30,36",
                        help="numbers of concurrent streams to try")
    parser.add_argument("--seconds", type=float, default=STREAM_SECONDS + 2)
    parser.add_argument("--decode", default="auto")
    parser.add_argument("--fps", type=float, default=0.0,
                        help="frames hashed per second per stream (0: every decoded frame)")
    parser.add_argument("--per-publisher", type=int, default=6,
                        help="streams per publishing process")
    parser.add_argument("--remux", action="store_true",
                        help="publish by remuxing each stream with PyAV (costs CPU) instead "
                        "of sending the pre-made MPEG-TS bytes on their timestamps")
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs per level (the table shows medians)")
    parser.add_argument("--throughput", default="",
                        help="numbers of streams to read from files as fast as they decode, "
                        "for the CPU per second of stream on a busy machine (e.g. 1,8,30)")
    args = parser.parse_args()
    if not BANKED.exists():
        sys.exit(f"reference material not found at {SHARED} (../shared is absent)")
    print("composing the streams (cached in benchmarks/.cache/live) ...", flush=True)
    restreams, unrelated = build_streams()
    vpdq = hash_file(BANKED, [get_signal_type("vpdq")]).signals["vpdq"]
    index = LiveIndex()
    index.add_videos([(1, vpdq)])
    costs = decode_costs(restreams[0].path)
    print_table("Decoding one 720p30 H.264 stream on one thread", ["mode", "frames",
                "CPU ms per stream second", "streams per 2 cores"], costs)
    hashing = hash_costs(restreams[0].path)
    print_table("Hashing its decoded frames on one thread", ["path", "CPU ms per frame",
                "CPU ms per stream second (20 frames)"], hashing)
    fast = [throughput(index, restreams, unrelated, int(n), args.decode, args.fps)
            for n in args.throughput.split(",") if n]
    if fast:
        print_table("Monitor CPU per second of stream, streams read as fast as they decode",
                    ["streams", "stream seconds", "CPU s", "cores", "CPU ms/stream-s",
                     "frames decoded", "re-streams alerted", "false alerts"],
                    [list(r.values()) for r in fast])
    levels = []
    for count in (int(x) for x in args.levels.split(",") if x):
        runs = []
        for _ in range(args.repeat):
            result = run_level(index, restreams, unrelated, count, args.seconds, args.decode,
                               args.fps, args.per_publisher, raw=not args.remux)
            runs.append(result)
            print(f"  {count} streams: {result}", flush=True)
        levels.append(_median_run(runs))
    if levels:
        print_table(
            "Live monitor, one process, streams on loopback (half of them re-streams)",
            ["streams", "CPU cores", "CPU ms/stream-s", "detected", "false alerts",
             "latency median s", "p95 s", "max s", "clip shown median s", "p95 s",
             "lag median s", "max s"],
            [[r["streams"], r["cpu_cores"], r["cpu_ms_per_stream_second"],
              f"{r['detected']}/{r['restreams']}", r["false_alerts"], r["latency_median"],
              r["latency_p95"], r["latency_max"], r["shown_median"], r["shown_p95"],
              r["lag_median"], r["lag_max"]] for r in levels])
    write_json("live", {"decode_costs": costs, "hash_costs": hashing, "throughput": fast,
                        "levels": levels})


if __name__ == "__main__":
    main()
