"""Hashing throughput: Cordon against python-threatexchange (PDQ) and the reference vpdq package.

    .venv/bin/python benchmarks/hashing.py [--rounds 3] [--skip-video] [--skip-images]

Images (one core, pinned): PDQ of full-resolution photos (fetched once into benchmarks/.cache)
and of the corpus images, by threatexchange's `pdq_from_file`, by `cordon.hashing.hash_file`
with only the pdq signal, and by `decode_rgb` + `hash_rgb`; each file is hashed by every method
in turn and timed in process CPU time (the throughput of one core, which other jobs on a shared
machine cannot skew); the figure is the median over rounds of each method's total.
Drift: Hamming distance of Cordon's hash to the hash of the full-resolution decode.
Then `cordon hash --jobs 1/2` over the photos (both cores, wall time).

Video (both cores): vPDQ at 1 fps and TMK+PDQF of a 60 s 720p H.264 video composed once from
the corpus and interop clips. The reference `vpdq` column needs the package, which builds
against FFmpeg's development files:
    apt-get install -y libavcodec-dev libavformat-dev libswscale-dev libavutil-dev \\
        libavdevice-dev pkg-config && .venv/bin/pip install vpdq
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import print_table, write_json
from _media import REPO, SHARED, compose_video, fetch_photos

from cordon.hashing import hash_file
from cordon.media.image import decode_rgb
from cordon.media.limits import MediaLimits
from cordon.signals import HashOptions, get_signal_type
from cordon.signals.pdq import hamming, hash_rgb

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"}


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def _pin_one_core() -> int:
    cpus = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpus[-1]})
    return cpus[-1]


def _image_methods() -> dict[str, Callable[[Path], str]]:
    from threatexchange.signal_type.pdq.pdq_hasher import pdq_from_file

    limits = MediaLimits()
    pdq = [get_signal_type("pdq")]
    options = HashOptions(limits=limits)

    def threatexchange(path: Path) -> str:
        return str(pdq_from_file(path)[0])

    def cordon_hash_file(path: Path) -> str:
        result = hash_file(path, pdq, options)
        if result.error is not None:
            raise RuntimeError(f"{path}: {result.error}")
        return str(result.signals["pdq"].hex)

    def cordon_decode_hash(path: Path) -> str:
        return hash_rgb(decode_rgb(path, limits)).hex

    return {
        "threatexchange pdq_from_file": threatexchange,
        "cordon hash_file (pdq)": cordon_hash_file,
        "cordon decode_rgb + hash_rgb": cordon_decode_hash,
    }


def measure_images(paths: list[Path], rounds: int) -> dict[str, Any]:
    """Per-method total seconds per round (median), per-file hashes and drift."""
    methods = _image_methods()
    limits = MediaLimits()
    full = {p: hash_rgb(decode_rgb(p, limits, min_side=None)).hex for p in paths}
    seconds: dict[str, dict[Path, list[float]]] = {m: {p: [] for p in paths} for m in methods}
    hashes: dict[str, dict[Path, str]] = {m: {} for m in methods}
    for _ in range(rounds):
        for path in paths:
            for name, method in methods.items():
                # CPU time, not wall time: on one pinned core it is the throughput being
                # compared, and other jobs on a shared machine cannot skew the ratio.
                start = time.process_time()
                hashes[name][path] = method(path)
                seconds[name][path].append(time.process_time() - start)
    out: dict[str, Any] = {"files": len(paths), "methods": {}}
    for name in methods:
        per_round = [sum(seconds[name][p][r] for p in paths) for r in range(rounds)]
        drift = [hamming(hashes[name][p], full[p]) for p in paths]
        out["methods"][name] = {
            "seconds": statistics.median(per_round),
            "per_file_seconds": {p.name: statistics.median(seconds[name][p]) for p in paths},
            "drift_mean": statistics.mean(drift),
            "drift_max": max(drift),
        }
    return out


def _subset(result: dict[str, Any], names: set[str]) -> dict[str, Any]:
    """Re-total a measured set over some of its files (JPEG only, PNG only)."""
    out: dict[str, Any] = {"files": len(names), "methods": {}}
    for method, data in result["methods"].items():
        per_file = data["per_file_seconds"]
        out["methods"][method] = {"seconds": sum(per_file[n] for n in names)}
    return out


def image_rows(label: str, result: dict[str, Any]) -> list[list[Any]]:
    methods = result["methods"]
    reference = methods["threatexchange pdq_from_file"]["seconds"]
    rows = []
    for name, data in methods.items():
        rows.append(
            [
                f"{label}: {name}",
                result["files"],
                result["files"] / data["seconds"],
                reference / data["seconds"],
                data.get("drift_mean"),
                data.get("drift_max"),
            ]
        )
    return rows


def measure_jobs(folder: Path, jobs: int, rounds: int) -> float:
    """Files/s of `cordon hash --signal pdq --jobs N` over a folder, process start included."""
    files = len(_images(folder))
    cordon = str(Path(sys.executable).with_name("cordon"))
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        subprocess.run(
            [cordon, "hash", "--signal", "pdq", "--jobs", str(jobs), str(folder)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        times.append(time.perf_counter() - start)
    return files / statistics.median(times)


def _real_signal(name: str, video: Path) -> bool:
    """False while a video signal type is absent or still a placeholder that refuses to hash."""
    try:
        signal = get_signal_type(name)
    except Exception:
        return False
    result = hash_file(video, [signal], HashOptions(fps=1.0))
    return result.error is None and name in result.signals


def measure_video(video: Path, rounds: int) -> tuple[list[list[Any]], dict[str, Any]]:
    import av

    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        frames = stream.frames
        seconds = float(container.duration or 0) / 1_000_000
    rows: list[list[Any]] = []
    payload: dict[str, Any] = {"video": video.name, "seconds": seconds, "frames": frames}
    runs: dict[str, Callable[[], Any]] = {}
    for name in ("vpdq", "tmk"):
        if _real_signal(name, video):
            signal = get_signal_type(name)
            runs[f"cordon {name}" + (" (1 fps)" if name == "vpdq" else "")] = (
                lambda s=signal: hash_file(video, [s], HashOptions(fps=1.0))
            )
        else:
            print(f"skipping cordon {name}: the signal type does not hash videos yet")
    try:
        import vpdq

        runs["reference vpdq (1 fps)"] = lambda: vpdq.computeHash(str(video), seconds_per_hash=1.0)
    except ImportError:
        print(
            "skipping the reference vpdq column: the vpdq package is not installed (it needs "
            "apt-get install libavcodec-dev libavformat-dev libswscale-dev libavutil-dev "
            "libavdevice-dev pkg-config, then .venv/bin/pip install vpdq)"
        )
    timings: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            timings[name].append(time.perf_counter() - start)
    for name, samples in timings.items():
        median = statistics.median(samples)
        rows.append([name, median, seconds / median, frames / median])
        payload[name] = {"seconds": median, "x_realtime": seconds / median,
                         "frames_per_second": frames / median}
    return rows, payload


def measure_all_images(rounds: int, payload: dict[str, Any], all_cpus: set[int]) -> None:
    photos = fetch_photos()
    corpus = SHARED / "corpus" / "images"
    cpu = _pin_one_core()
    print(f"images: pinned to CPU {cpu}, {rounds} rounds")
    rows: list[list[Any]] = []
    if photos is None:
        print("skipping the photos: the corpus fetch-photos script failed or is missing")
    else:
        paths = _images(photos)
        result = measure_images(paths, rounds)
        jpegs = {p.name for p in paths if p.suffix.lower() in (".jpg", ".jpeg")}
        pngs = {p.name for p in paths if p.suffix.lower() == ".png"}
        rows += image_rows("photos", result)
        rows += image_rows("photos JPEG", _subset(result, jpegs))
        rows += image_rows("photos PNG", _subset(result, pngs))
        payload["photos"] = result
    if corpus.is_dir():
        result = measure_images(_images(corpus), rounds)
        rows += image_rows("corpus images", result)
        payload["corpus_images"] = result
    print_table(
        "PDQ of images, one core (files/s; ratio = speed-up over threatexchange; drift = bits "
        "from the full-resolution hash)",
        ["set: method", "files", "files/s", "ratio", "drift mean", "drift max"],
        rows,
    )
    os.sched_setaffinity(0, all_cpus)

    if photos is not None:
        jobs_rows = []
        payload["jobs"] = {}
        for jobs in (1, len(all_cpus)):
            rate = measure_jobs(photos, jobs, rounds)
            jobs_rows.append([f"cordon hash --signal pdq --jobs {jobs}", rate])
            payload["jobs"][jobs] = rate
        print_table("cordon hash over the photos (files/s, process start included)",
                    ["command", "files/s"], jobs_rows)



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="repetitions (median reported)")
    parser.add_argument("--skip-video", action="store_true")
    parser.add_argument("--skip-images", action="store_true")
    args = parser.parse_args()
    if not SHARED.is_dir():
        sys.exit(f"the shared corpus is missing at {SHARED}; nothing to measure")
    # CPU-time ratios hold under load, but wall-time rows (--jobs, video) do not: keep the
    # load average the figures were taken at with them.
    payload: dict[str, Any] = {"machine_cpus": os.cpu_count(), "load_average": os.getloadavg()}

    all_cpus = os.sched_getaffinity(0)
    if not args.skip_images:
        measure_all_images(args.rounds, payload, all_cpus)
    if not args.skip_video:
        video = compose_video()
        if video is None:
            print("skipping video: no source clips to compose the 720p test video from")
        else:
            video_rows, payload["video"] = measure_video(video, args.rounds)
            print_table(
                f"Video: {video.name} ({payload['video']['seconds']:.0f} s, "
                f"{payload['video']['frames']} frames, 720p H.264), all cores",
                ["method", "seconds", "x realtime", "frames/s"],
                video_rows,
            )
    payload["load_average_after"] = os.getloadavg()
    path = write_json("hashing", payload)
    print(f"\nwrote {path.relative_to(REPO)}")


if __name__ == "__main__":
    main()
