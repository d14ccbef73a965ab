"""Video robustness benchmark: are clips of banked videos found, with the right time range?

Builds two long reference videos by joining the distinct sample videos of ../shared (corpus and
interop), fitted into one 480x270 canvas at 25 fps, and banks them. Cuts clips of 5-28 s at
seeded positions, applies each edit (re-encoding, rescaling, bars, logo, news ticker, mirror,
greyscale, speed and frame-rate changes, picture-in-picture, insertion into unrelated footage)
while writing an H.264 file, hashes it end to end with `cordon.hashing.hash_file`, and matches it
with the vpdq-robust index, with vPDQ and with TMK as shipped, in the same run. Unrelated footage
(slow pans over the corpus images) is matched too: it must match nothing.

A clip counts as detected by a signal when its best match is the right reference; for vPDQ and
vpdq-robust the reported time range on the reference must also be within 2 s of the truth.

    .venv/bin/python benchmarks/robustness_video.py           # writes benchmarks/results/
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from functools import cache
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

from cordon.hashing import hash_file
from cordon.signals import get_signal_type

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CORDON_SHARED", ROOT.parent / "shared"))
WIDTH, HEIGHT, FPS = 480, 270, 25
SEED = 20240501
TOLERANCE = 2.0
SIGNALS = ("vpdq-robust", "vpdq", "tmk")
# Distinct content only: the interop set holds several encodes of two videos, one of each here.
SOURCES = {
    "A": [
        "interop/video/chair-orig-22-sd-bar.mp4",
        "interop/video/doorknob-hd-no-bar.mp4",
        "corpus/videos/carphone_pristine.mp4",
    ],
    "B": [
        "corpus/videos/bikes.mp4",
        "corpus/videos/bigbuckbunny.mp4",
        "interop/video/pattern-longer-no-bar.mp4",
        "interop/video/test-padded-dimensions.mp4",
    ],
}
CLIP_SECONDS = (5, 10, 15, 20, 28)
Frames = list[np.ndarray]
# Where clip files are kept for inspection (--keep); None deletes them once hashed.
KEEP: Path | None = None


def fit(rgb: np.ndarray, width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    """The frame scaled into width x height, centred on black (as players show it)."""
    scale = min(width / rgb.shape[1], height / rgb.shape[0])
    w, h = max(2, round(rgb.shape[1] * scale)), max(2, round(rgb.shape[0] * scale))
    canvas = np.zeros((height, width, 3), np.uint8)
    top, left = (height - h) // 2, (width - w) // 2
    canvas[top : top + h, left : left + w] = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA)
    return canvas


def decode(path: Path) -> Frames:
    """Every frame of a video resampled to FPS on its timestamps, fitted to the canvas."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        timed = [
            (
                float(f.pts * stream.time_base) if f.pts is not None else 0.0,
                f.to_ndarray(format="rgb24"),
            )
            for f in container.decode(stream)
        ]
    timed.sort(key=lambda item: item[0])
    start, end = timed[0][0], timed[-1][0]
    out, j = [], 0
    for k in range(int((end - start) * FPS) + 1):
        t = start + k / FPS
        while j + 1 < len(timed) and timed[j + 1][0] <= t + 1e-6:
            j += 1
        out.append(fit(timed[j][1]))
    return out


def write(path: Path, frames: Iterator[np.ndarray], fps: float, crf: int = 23) -> None:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1000))
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(crf), "preset": "ultrafast"}
        first = True
        for frame in frames:
            if first:
                stream.width, stream.height = frame.shape[1] // 2 * 2, frame.shape[0] // 2 * 2
                first = False
            frame = frame[: stream.height, : stream.width]
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def unrelated(seconds: float, seed: int) -> Frames:
    """Slow pans over corpus images, 4 s per image: footage that shares nothing with the bank."""
    images = sorted((SHARED / "corpus" / "images").glob("*.jpg"))
    rng = np.random.default_rng(seed)
    chosen = [images[i] for i in rng.choice(len(images), size=int(seconds // 4) + 1, replace=False)]
    frames = []
    for shot, path in enumerate(chosen):
        picture = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        picture = cv2.resize(picture, (WIDTH * 3 // 2, HEIGHT * 3 // 2))
        for k in range(4 * FPS):
            if len(frames) >= round(seconds * FPS):
                break
            dx = round(k / (4 * FPS) * (picture.shape[1] - WIDTH)) if shot % 2 else 0
            dy = round(k / (4 * FPS) * (picture.shape[0] - HEIGHT)) if not shot % 2 else 0
            frames.append(np.ascontiguousarray(picture[dy : dy + HEIGHT, dx : dx + WIDTH]))
    return frames


# --- edits: (clip frames, rng) -> (output frames, fps, crf) ------------------------------------
@dataclass(frozen=True)
class VideoEdit:
    name: str
    apply: Callable[[Frames, np.random.Generator], tuple[Iterator[np.ndarray], float, int]]


def _each(fn: Callable[[np.ndarray], np.ndarray], fps: float = FPS, crf: int = 23):  # type: ignore[no-untyped-def]
    return lambda frames, rng: ((fn(f) for f in frames), fps, crf)


def _resample(speed: float, fps: float):  # type: ignore[no-untyped-def]
    """Output frame k shows clip time k / fps * speed: speed > 1 plays faster."""

    def apply(frames: Frames, rng: np.random.Generator):  # type: ignore[no-untyped-def]
        count = int(len(frames) / FPS / speed * fps)
        return (
            (frames[min(len(frames) - 1, round(k / fps * speed * FPS))] for k in range(count)),
            fps,
            23,
        )

    return apply


def _bars(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    return fit(frame, width, height)


def _logo(frame: np.ndarray) -> np.ndarray:
    out = frame.copy()
    out[10:40, WIDTH - 90 : WIDTH - 10] = (200, 30, 40)
    cv2.putText(out, "NEWS", (WIDTH - 84, 33), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 2)
    return out


def _ticker(frames: Frames, rng: np.random.Generator):  # type: ignore[no-untyped-def]
    text = "BREAKING  " + " ".join(
        rng.choice(["they", "do", "not", "want", "you", "to", "see"], 30)
    )

    def draw(k: int, frame: np.ndarray) -> np.ndarray:
        out = frame.copy()
        band = HEIGHT * 3 // 20
        out[HEIGHT - band :] = (20, 20, 120)
        cv2.putText(
            out,
            text.upper(),
            (WIDTH - 4 * k, HEIGHT - band // 3),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.6,
            (255, 255, 255),
            2,
        )
        return out

    return (draw(k, f) for k, f in enumerate(frames)), FPS, 23


def _pip(percent: int):  # type: ignore[no-untyped-def]
    """The clip as a window (`percent` of the width) over unrelated footage, as reaction videos
    do."""

    def apply(frames: Frames, rng: np.random.Generator):  # type: ignore[no-untyped-def]
        background = unrelated(len(frames) / FPS + 1, int(rng.integers(1 << 30)))
        w, h = WIDTH * percent // 100, HEIGHT * percent // 100

        def draw(k: int, frame: np.ndarray) -> np.ndarray:
            out = background[k % len(background)].copy()
            out[18 : 22 + h, WIDTH - w - 22 : WIDTH - 18] = 255
            out[20 : 20 + h, WIDTH - w - 20 : WIDTH - 20] = cv2.resize(
                frame, (w, h), interpolation=cv2.INTER_AREA
            )
            return out

        return (draw(k, f) for k, f in enumerate(frames)), FPS, 23

    return apply


def _inserted(frames: Frames, rng: np.random.Generator):  # type: ignore[no-untyped-def]
    """10 s of unrelated footage, the clip, 10 s more."""
    before = unrelated(10, int(rng.integers(1 << 30)))
    after = unrelated(10, int(rng.integers(1 << 30)))
    return iter(before + frames + after), FPS, 23


EDITS = [
    VideoEdit("re-encode crf 23", _each(lambda f: f)),
    VideoEdit("low bitrate crf 40", _each(lambda f: f, crf=40)),
    VideoEdit(
        "rescale 240p", _each(lambda f: cv2.resize(f, (426, 240), interpolation=cv2.INTER_AREA))
    ),
    VideoEdit(
        "rescale 1080p",
        _each(lambda f: cv2.resize(f, (1920, 1080), interpolation=cv2.INTER_LINEAR)),
    ),
    VideoEdit("letterbox 1:1", _each(lambda f: _bars(f, 480, 480))),
    VideoEdit("pillarbox 4:3 in 21:9", _each(lambda f: _bars(cv2.resize(f, (360, 270)), 630, 270))),
    VideoEdit("logo", _each(_logo)),
    VideoEdit("news ticker", _ticker),
    VideoEdit("mirror", _each(lambda f: np.ascontiguousarray(f[:, ::-1]))),
    VideoEdit(
        "greyscale",
        _each(lambda f: np.repeat(cv2.cvtColor(f, cv2.COLOR_RGB2GRAY)[:, :, None], 3, 2)),
    ),
    VideoEdit("speed x0.9", _resample(0.9, FPS)),
    VideoEdit("speed x1.1", _resample(1.1, FPS)),
    VideoEdit("15 fps", _resample(1.0, 15)),
    VideoEdit("50 fps", _resample(1.0, 50)),
    VideoEdit("picture-in-picture 45%", _pip(45)),
    VideoEdit("inserted in unrelated footage", _inserted),
    # Last, so that the seeds of the edits above stay as they were.
    VideoEdit("picture-in-picture 33%", _pip(33)),
]


# --- running -----------------------------------------------------------------------------------
@cache
def _scratch() -> Path:
    base = "/dev/shm" if os.path.isdir("/dev/shm") else None
    return Path(tempfile.mkdtemp(prefix="cordon-video-bench-", dir=base))


def _hash(path: Path) -> dict[str, Any]:
    result = hash_file(path, [get_signal_type(n) for n in SIGNALS])
    if not result.ok:
        raise RuntimeError(f"{path}: {result.error}")
    return result.signals


def build_references() -> dict[str, Path]:
    refs = {}
    for name, sources in SOURCES.items():
        frames: Frames = []
        for source in sources:
            path = SHARED / source
            if not path.exists():
                raise SystemExit(f"{path} is absent; nothing to measure")
            frames += decode(path)
        refs[name] = _scratch() / f"reference-{name}.mp4"
        write(refs[name], iter(frames), FPS, crf=18)
    return refs


@cache
def _reference_frames(path: str) -> Frames:
    return decode(Path(path))


def _variant(task: tuple[str, str, float, float, int]) -> dict[str, Any]:
    ref, ref_path, start, length, edit_index = task
    frames = _reference_frames(ref_path)
    clip = frames[round(start * FPS) : round((start + length) * FPS)]
    edit = EDITS[edit_index]
    rng = np.random.default_rng([SEED, edit_index, round(start * 10), round(length)])
    output, fps, crf = edit.apply(clip, rng)
    path = _scratch() / f"{ref}-{start:.1f}-{length}-{edit_index}.mp4"
    write(path, output, fps, crf)
    t0 = time.perf_counter()
    signals = _hash(path)
    seconds = time.perf_counter() - t0
    if KEEP is None:
        path.unlink()
    else:
        shutil.move(path, KEEP / path.name)
    return {
        "ref": ref,
        "start": start,
        "length": length,
        "edit": edit.name,
        "signals": {n: get_signal_type(n).format(v) for n, v in signals.items()},
        "hash_seconds": seconds,
    }


def _judge(
    name: str, index: Any, value: Any, ref_key: int, start: float, end: float
) -> tuple[bool, bool, Any]:
    """(detected with the right reference and range, matched a wrong reference, the run)."""
    hits = index.query(value)
    if not hits:
        return False, False, None
    keys = {h.key for h in hits}
    wrong = bool(keys - {ref_key})
    right = [h for h in hits if h.key == ref_key]
    if not right:
        return False, wrong, None
    if name == "tmk":
        return True, wrong, None
    detail = right[0].detail
    # vPDQ reports aligned segments: its longest one is its time range.
    segments = list(detail.get("segments", []))
    longest = max(segments, key=lambda s: s["query_end"] - s["query_start"], default=None)
    run = detail.get("run") or longest
    if not run:
        return False, wrong, None
    ok = abs(run["ref_start"] - start) <= TOLERANCE and abs(run["ref_end"] - end) <= TOLERANCE
    return ok, wrong, run


def _keep_in(folder: Path | None) -> None:
    global KEEP
    KEEP = folder


def _selected(args: argparse.Namespace, ref: str, length: int, edit: str) -> bool:
    """Whether a clip variant is in the subset asked for (--refs, --lengths, --edits)."""
    return (
        (not args.refs or ref in args.refs)
        and (not args.lengths or length in args.lengths)
        and (not args.edits or any(e.strip() in edit for e in args.edits.split(",")))
    )


def _clip_line(clip: dict[str, Any]) -> str:
    run = clip["run"]
    where = (
        f"ref {run['ref_start']:.1f}-{run['ref_end']:.1f} query "
        f"{run['query_start']:.1f}-{run['query_end']:.1f} speed {run['speed']}"
        if run
        else "no match"
    )
    truth = f"{clip['start']:.1f}-{clip['start'] + clip['length']:.1f}"
    mark = "ok  " if clip["ok"] else "MISS"
    return f"{mark} {clip['ref']} {truth:>11} {clip['edit']:<30} {where}" + (
        " WRONG" if clip["wrong"] else ""
    )


def run(args: argparse.Namespace) -> dict[str, Any]:
    started = time.perf_counter()
    refs = build_references()
    durations = {n: len(_reference_frames(str(p))) / FPS for n, p in refs.items()}
    keys = {name: i for i, name in enumerate(refs)}
    indexes = {n: get_signal_type(n).make_index() for n in SIGNALS}
    banked = {name: _hash(path) for name, path in refs.items()}
    for name, signals in banked.items():
        for n in SIGNALS:
            indexes[n].add(keys[name], signals[n])
    rng = np.random.default_rng(SEED)
    tasks = []
    for name, path in refs.items():
        for length in (10, 20) if args.quick else CLIP_SECONDS:
            if length > durations[name] - 0.5:
                continue
            start = round(float(rng.uniform(0, durations[name] - length)), 1)
            tasks += [
                (name, str(path), start, length, e)
                for e in range(len(EDITS))
                if _selected(args, name, length, EDITS[e].name)
            ]
    # Unrelated footage against the bank: must match nothing.
    false_matches: dict[str, int] = defaultdict(int)
    for seed in range(args.unrelated):
        path = _scratch() / f"unrelated-{seed}.mp4"
        write(path, iter(unrelated(60, seed)), FPS)
        signals = _hash(path)
        for n in SIGNALS:
            false_matches[n] += len(indexes[n].query(signals[n]))
    rows: dict[tuple[str, str], dict[str, list[bool]]] = defaultdict(lambda: defaultdict(list))
    hash_seconds = []
    clips: list[dict[str, Any]] = []
    with ProcessPoolExecutor(
        max_workers=args.jobs, initializer=_keep_in, initargs=(KEEP,)
    ) as workers:
        for result in workers.map(_variant, tasks):
            hash_seconds.append(result["hash_seconds"] / max(1.0, result["length"]))
            bucket = "clips >= 10 s" if result["length"] >= 10 else "clips of 5 s"
            for n in SIGNALS:
                value = get_signal_type(n).parse(result["signals"][n])
                ok, wrong, found = _judge(
                    n,
                    indexes[n],
                    value,
                    keys[result["ref"]],
                    result["start"],
                    result["start"] + result["length"],
                )
                if n == SIGNALS[0]:
                    clips.append(
                        {k: result[k] for k in ("ref", "start", "length", "edit")}
                        | {"ok": ok, "wrong": wrong, "run": found}
                    )
                    if args.clips:
                        print(_clip_line(clips[-1]), flush=True)
                rows[(result["edit"], bucket)][n].append(ok)
                rows[(result["edit"], bucket)][n + " wrong"].append(wrong)
    shutil.rmtree(_scratch(), ignore_errors=True)
    return {
        "references": {n: round(d, 1) for n, d in durations.items()},
        "clips": len(tasks),
        "false_matches_unrelated": dict(false_matches),
        "unrelated_videos": args.unrelated,
        "rows": [
            {"edit": e, "bucket": b, **{k: (sum(v), len(v)) for k, v in by.items()}}
            for (e, b), by in rows.items()
        ],
        "hash_seconds_per_video_second_median": statistics.median(hash_seconds),
        "clip_results": clips,
        "seconds": time.perf_counter() - started,
    }


def report(result: dict[str, Any]) -> str:
    lines = [
        f"references: {result['references']} s; clip variants: {result['clips']}; "
        f"run time {result['seconds']:.0f} s",
        f"false matches on {result['unrelated_videos']} unrelated 60 s videos: "
        + ", ".join(f"{n} {c}" for n, c in result["false_matches_unrelated"].items()),
        "",
        f"{'edit':<32} {'clips':<14}" + "".join(f"{n:>16}" for n in SIGNALS),
    ]
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for row in sorted(result["rows"], key=lambda r: (r["bucket"], r["edit"])):
        cells = []
        for n in SIGNALS:
            found, count = row[n]
            wrong = row[n + " wrong"][0]
            cells.append(f"{found:>3}/{count:<3} w={wrong:<2}")
            if row["bucket"] == "clips >= 10 s":
                totals[n][0] += found
                totals[n][1] += count
                totals[n][2] += wrong
        lines.append(f"{row['edit']:<32} {row['bucket']:<14}" + "".join(f"{c:>16}" for c in cells))
    lines.append("")
    lines.append(
        "clips >= 10 s, all edits: "
        + ", ".join(
            f"{n} {100 * f / max(1, c):.1f}% ({f}/{c}, wrong {w})"
            for n, (f, c, w) in totals.items()
        )
    )
    lines.append(
        f"hashing (all three signals, incl. decode): "
        f"{result['hash_seconds_per_video_second_median']:.3f} s per second of video (median)"
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--unrelated", type=int, default=3, help="unrelated 60 s videos matched")
    parser.add_argument("--quick", action="store_true", help="clips of 10 and 20 s only")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--edits", default="", help="comma-separated parts of edit names to run")
    parser.add_argument("--refs", default="", help="references to cut clips from, e.g. A or AB")
    parser.add_argument(
        "--lengths", type=int, nargs="*", default=[], help="clip lengths (s) to run, e.g. 10 28"
    )
    parser.add_argument("--clips", action="store_true", help="print each clip's vpdq-robust run")
    parser.add_argument("--keep", type=Path, help="keep the clip files in this folder")
    args = parser.parse_args()
    global KEEP
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        KEEP = args.keep.resolve()
    if not (SHARED / "corpus" / "videos").is_dir():
        raise SystemExit(f"the video corpus is absent ({SHARED}); nothing to measure")
    result = run(args)
    text = report(result)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    subset = args.edits or args.refs or args.lengths
    suffix = "-subset" if subset else "-quick" if args.quick else ""
    (args.out / f"robustness-video{suffix}.json").write_text(json.dumps(result, indent=1))
    (args.out / f"robustness-video{suffix}.txt").write_text(text + "\n")


if __name__ == "__main__":
    sys.exit(main())
