"""Robustness benchmark: does Cordon catch the modified copies people actually post?

Banks the originals of ../shared/corpus/images, generates deterministic edited copies of each
(benchmarks/edits.py), hashes every copy end to end with `cordon.hashing.hash_file` and matches it
with `cordon.matching.Matcher`, once with Cordon's default matching signals and once with plain
PDQ at distance 31, in the same run. Also matches every original against the banks of all the
others (distinct content that must not match).

    .venv/bin/python benchmarks/robustness.py            # images, then videos: the full run
    .venv/bin/python benchmarks/robustness.py --quick    # a subset, for iteration

After the images it runs the video benchmark (benchmarks/robustness_video.py, the same `--jobs`
and `--out`), so the whole benchmark is one command; `--images-only` skips it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))

from edits import Edit, all_edits

from cordon.content import ContentType
from cordon.hashing import hash_file
from cordon.index.pdq_robust import RobustPdqIndex
from cordon.matching import Matcher
from cordon.signals import get_signal_type, matching_signal_types

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CORDON_SHARED", ROOT.parent / "shared"))
IMAGES = SHARED / "corpus" / "images"
SEED = 20190315
# Pictures used as the other content of collages and picture-in-picture insets.
POOL_SIZE = 24
PDQ = get_signal_type("pdq")
ROBUST = get_signal_type("pdq-robust")
# Index options measured one technique at a time (same hashes, same queries).
ABLATIONS: dict[str, dict[str, Any]] = {
    "trim only": {"dihedral": False, "regions": False, "verify": False},
    "+ dihedral": {"regions": False, "verify": False},
    "+ views": {"verify": False},
    "+ views, verified": {"keypoint_votes": False, "mirrored_keypoints": False},
    "+ keypoint votes": {"mirrored_keypoints": False},
    "+ mirrored keypoints (default)": {},
}


def corpus() -> list[Path]:
    if not IMAGES.is_dir():
        raise SystemExit(f"the image corpus is absent ({IMAGES}); nothing to measure")
    return sorted(p for p in IMAGES.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))


# Independent check of shared content (see related()): full-size SIFT, not Cordon's own ORB.
SIFT_FEATURES = 2000
SIFT_RATIO = 0.75
SIFT_MIN_INLIERS = 20


# Halves of a picture checked on their own (see related()): (left, top, right, bottom).
HALVES: dict[str, tuple[float, float, float, float]] = {
    "left": (0, 0, 0.5, 1),
    "right": (0.5, 0, 1, 1),
    "top": (0, 0, 1, 0.5),
    "bottom": (0, 0.5, 1, 1),
}


@cache
def _sift(path: str, half: str | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    import cv2

    image = _original(path).convert("L")
    if half is not None:
        left, top, right, bottom = HALVES[half]
        w, h = image.size
        image = image.crop((round(left * w), round(top * h), round(right * w), round(bottom * h)))
    grey = np.asarray(image)
    found, descriptors = cv2.SIFT_create(nfeatures=SIFT_FEATURES).detectAndCompute(grey, None)
    return np.array([k.pt for k in found], np.float32).reshape(-1, 2), descriptors


def _sift_inliers(a: tuple[str, str | None], b: tuple[str, str | None]) -> int:
    import cv2

    points_a, desc_a = _sift(*a)
    points_b, desc_b = _sift(*b)
    if desc_a is None or desc_b is None or len(desc_a) < 8 or len(desc_b) < 8:
        return 0
    pairs = cv2.BFMatcher(cv2.NORM_L2).knnMatch(desc_a, desc_b, k=2)
    good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < SIFT_RATIO * p[1].distance]
    if len(good) < SIFT_MIN_INLIERS:
        return 0
    source = points_a[[m.queryIdx for m in good]]
    target = points_b[[m.trainIdx for m in good]]
    _, mask = cv2.findHomography(source, target, cv2.RANSAC, 5.0)
    return 0 if mask is None else int(mask.sum())


def _same(a: tuple[str, str | None], b: tuple[str, str | None]) -> bool:
    return min(_sift_inliers(a, b), _sift_inliers(b, a)) >= SIFT_MIN_INLIERS


@cache
def related(a: str, b: str) -> bool:
    """Whether two corpus images show the same content (the corpus holds a few: two
    screenshots of one dialog, a stitched picture containing another, successive frames of
    one tutorial), by evidence independent of Cordon: full-size SIFT keypoints mapped by one
    RANSAC homography, at least SIFT_MIN_INLIERS of them, in both directions. A match
    between such a pair is counted as same content; every other match is a false match.

    A picture that shows the other twice (a feature-matching illustration: the photograph
    and a rotated copy side by side) defeats the ratio test, since each keypoint has two
    equally good matches; so the check is also made between one picture and each half of
    the other (0137, the "cameraman" photograph under drawn lines, and 0206, the same
    photograph twice under match lines: 9 inliers whole, 33-36 with the left half)."""
    if a == b:
        return True
    if _same((a, None), (b, None)):
        return True
    return any(
        _same((one, None), (other, half))
        for one, other in ((a, b), (b, a))
        for half in HALVES
    )


@cache
def _original(path: str) -> Image.Image:
    with Image.open(path) as image:
        return image.convert("RGB")


def _signals(path: Path) -> dict[str, Any]:
    selection = [*matching_signal_types(ContentType.IMAGE)]
    result = hash_file(path, selection)
    if not result.ok:
        raise RuntimeError(f"{path}: {result.error}")
    return result.signals


def _hash_original(path: str) -> dict[str, Any]:
    return _signals(Path(path))


def _make_variant(task: tuple[int, int, str, list[str], int]) -> tuple[int, int, dict, list[str]]:
    """Edit one original, write it as a posted file would be (JPEG q95) and hash it."""
    index, edit_index, path, pool, seed = task
    edit = all_edits()[edit_index]
    rng = np.random.default_rng([seed, index, edit_index])
    others = [p for p in pool if p != path][: POOL_SIZE - 1]
    image, shown = edit.apply(_original(path), [_original(p) for p in others], rng)
    with tempfile.NamedTemporaryFile(suffix=".jpg", dir=_scratch()) as handle:
        image.convert("RGB").save(handle, "JPEG", quality=95)
        handle.flush()
        signals = _signals(Path(handle.name))
    return index, edit_index, signals, [others[i] for i in shown]


@cache
def _scratch() -> str | None:
    return "/dev/shm" if os.path.isdir("/dev/shm") else None


def _matched(matcher: Matcher, signals: dict[str, Any], names: Sequence[str]) -> set[int]:
    return {m.entry_id for m in matcher.match({n: signals[n] for n in names if n in signals})}


class Tally:
    def __init__(self) -> None:
        self.total = 0
        self.found = 0
        self.wrong = 0  # variants matched to an original that they do not show

    def add(self, found: bool, wrong: bool) -> None:
        self.total += 1
        self.found += found
        self.wrong += wrong

    def row(self) -> dict[str, float]:
        hits = self.found + self.wrong
        return {
            "variants": self.total,
            "recall": self.found / self.total if self.total else 0.0,
            "wrong": self.wrong,
            "precision": self.found / hits if hits else 1.0,
        }


def _indexable(signals: Sequence[Any]) -> list[str]:
    """The signals whose index exists in this checkout (exact digests never match an edit)."""
    names = []
    for signal in signals:
        try:
            signal.make_index()
        except (ImportError, NotImplementedError):
            print(f"note: no index for {signal.name} yet, left out of matching")
            continue
        names.append(signal.name)
    return names


def _percent(value: float) -> str:
    return f"{100 * value:.1f}%"


def run(args: argparse.Namespace) -> dict[str, Any]:
    paths = corpus()
    if args.quick:
        paths = paths[:: max(1, len(paths) // 40)][:40]
    edits = all_edits()
    if args.families:
        wanted = {f.strip() for f in args.families.split(",")}
        edit_ids = [i for i, e in enumerate(edits) if e.family in wanted]
    elif args.edits:
        wanted = {f.strip() for f in args.edits.split(",")}
        edit_ids = [i for i, e in enumerate(edits) if f"{e.family}/{e.strength}" in wanted]
        if not edit_ids:
            raise SystemExit(
                f"no edit named {args.edits!r} (family/strength, e.g. 'pad/10% black')"
            )
    else:
        edit_ids = list(range(len(edits)))
    rng = np.random.default_rng(SEED)
    pool = [
        str(paths[i])
        for i in rng.choice(len(paths), size=min(POOL_SIZE, len(paths)), replace=False)
    ]
    started = time.perf_counter()
    default_names = _indexable(matching_signal_types(ContentType.IMAGE))
    print(f"{len(paths)} originals, {len(edit_ids)} edits, default signals: {default_names}")

    with ProcessPoolExecutor(max_workers=args.jobs) as workers:
        banked = list(workers.map(_hash_original, map(str, paths), chunksize=4))
        path_ids = {str(p): i for i, p in enumerate(paths)}
        default = Matcher()
        plain = Matcher()
        ablations = {name: RobustPdqIndex(**options) for name, options in ABLATIONS.items()}
        for i, signals in enumerate(banked):
            default.add(i, {n: signals[n] for n in default_names if n in signals})
            plain.add(i, {"pdq": signals["pdq"]})
            for index in ablations.values():
                index.add(i, signals[ROBUST.name])

        # Distinct originals: each against the banks of all the others. A match between two
        # originals that independently show the same content is listed, not counted false.
        false_default, false_plain, same_content = [], [], set()
        for i, signals in enumerate(banked):
            for name, found in (
                ("cordon", _matched(default, signals, default_names)),
                ("plain pdq", _matched(plain, signals, ["pdq"])),
            ):
                for j in found - {i}:
                    if related(str(paths[i]), str(paths[j])):
                        same_content.add(tuple(sorted((i, j))))
                    else:
                        (false_default if name == "cordon" else false_plain).append((i, j))

        tasks = [(i, e, str(p), pool, SEED) for e in edit_ids for i, p in enumerate(paths)]
        tallies: dict[tuple[str, str], dict[str, Tally]] = defaultdict(lambda: defaultdict(Tally))
        wrong_examples: list[dict[str, Any]] = []
        query_seconds: dict[str, list[float]] = defaultdict(list)
        for i, e, signals, shown in workers.map(_make_variant, tasks, chunksize=8):
            edit: Edit = edits[e]
            allowed = {i} | {path_ids[s] for s in shown}

            def wrong_of(hits: set[int], allowed: set[int] = allowed) -> set[int]:
                # A hit on an original that shares content with a picture shown in the copy
                # (checked independently, see related()) is a right match.
                return {
                    j
                    for j in hits - allowed
                    if not any(related(str(paths[a]), str(paths[j])) for a in allowed)
                }
            key = (edit.family, edit.strength)
            for name, matcher, names in (
                ("cordon", default, default_names),
                ("plain pdq", plain, ["pdq"]),
            ):
                t0 = time.perf_counter()
                hits = _matched(matcher, signals, names)
                query_seconds[name].append(time.perf_counter() - t0)
                wrong_hits = wrong_of(hits)
                wrong = bool(wrong_hits)
                tallies[key][name].add(i in hits, wrong)
                if wrong and name == "cordon" and len(wrong_examples) < 20:
                    wrong_examples.append(
                        {
                            "original": paths[i].name,
                            "edit": key,
                            "matched": sorted(paths[j].name for j in wrong_hits),
                        }
                    )
            # The technique table queries six indexes per copy, which made the matching
            # process the bottleneck of a full run: it uses every ABLATION_STRIDE-th original.
            for name, index in ablations.items() if i % args.ablation_stride == 0 else ():
                t0 = time.perf_counter()
                hits = {m.key for m in index.query(signals[ROBUST.name])}
                query_seconds[name].append(time.perf_counter() - t0)
                tallies[(edit.family, "*")][name].add(i in hits, bool(wrong_of(hits)))
    elapsed = time.perf_counter() - started
    return {
        "originals": len(paths),
        "edits": len(edit_ids),
        "variants": len(edit_ids) * len(paths),
        "default_signals": default_names,
        "false_matches_distinct": {"cordon": len(false_default), "plain pdq": len(false_plain)},
        "false_match_pairs": [[paths[i].name, paths[j].name] for i, j in false_default][:20],
        "same_content_pairs": sorted([paths[i].name, paths[j].name] for i, j in same_content),
        "rows": [
            {"family": f, "strength": s, **{n: t.row() for n, t in by.items()}}
            for (f, s), by in tallies.items()
        ],
        "wrong_examples": wrong_examples,
        "query_ms_median": {n: 1000 * statistics.median(v) for n, v in query_seconds.items()},
        "bank": bank_size(banked),
        "ablation_stride": args.ablation_stride,
        "seconds": elapsed,
    }


def bank_size(banked: list[dict[str, Any]]) -> dict[str, float]:
    robust = [s[ROBUST.name] for s in banked]
    banked_views = [int((v.roles <= 1).sum()) for v in robust]
    wire = [len(ROBUST.format(v)) for v in robust]
    return {
        "pdq_bytes_per_entry": 32,
        "robust_banked_views_per_entry": statistics.mean(banked_views),
        "robust_index_bytes_per_entry": statistics.mean(
            32 * n + 36 * len(v.points) for n, v in zip(banked_views, robust, strict=True)
        ),
        "robust_wire_chars_per_entry": statistics.mean(wire),
    }


def robust_parts(rgb: np.ndarray) -> dict[str, float]:
    """CPU seconds of each part of pdq-robust on one image."""
    from cordon.media.normalize import border_box, content_box, edge_boxes, grid_cells
    from cordon.signals.pdq_robust import (
        MAX_MIRRORED_KEYPOINTS,
        _view,
        grey_working_copy,
        keypoints,
        pdq_views,
    )

    clock = time.process_time
    parts: dict[str, float] = {}
    t = clock()
    grey = grey_working_copy(rgb)
    parts["working copy"] = clock() - t
    t = clock()
    trimmed = border_box(grey).crop(grey)
    parts["border trimming"] = clock() - t
    for name, fn in (
        ("edge boxes", edge_boxes),
        ("gutter cells", grid_cells),
        ("textured block", content_box),
    ):
        t = clock()
        fn(grey)
        parts[name] = clock() - t
    t = clock()
    keypoints(trimmed)
    parts["ORB 160"] = clock() - t
    t = clock()
    keypoints(np.ascontiguousarray(trimmed[:, ::-1]), MAX_MIRRORED_KEYPOINTS)
    parts["ORB mirrored 100"] = clock() - t
    views = np.stack([_view(trimmed)] * 28)
    t = clock()
    pdq_views(views)
    parts["28 views hashed"] = clock() - t
    return parts


def timing(paths: list[Path], count: int) -> dict[str, float]:
    """Upload-time check on one core: hash_file with the default matching signals + match
    (CPU milliseconds, median and 95th percentile)."""
    from cordon.media.image import decode_rgb
    from cordon.media.limits import MediaLimits
    from cordon.signals.pdq import hash_rgb
    from cordon.signals.pdq_robust import compute

    chosen = paths[:: max(1, len(paths) // count)][:count]
    bank = Matcher()
    names = _indexable(matching_signal_types(ContentType.IMAGE))
    for i, p in enumerate(paths):
        signals = _signals(p)
        bank.add(i, {n: signals[n] for n in names})
    phases: dict[str, list[float]] = defaultdict(list)
    # CPU time of this process, not wall time: the figure is per core, and a loaded machine
    # (other jobs) stretches wall time without changing the work done.
    clock = time.process_time
    for p in chosen:
        rgb = decode_rgb(p, MediaLimits())
        t0 = clock()
        hash_rgb(rgb)
        t1 = clock()
        compute(rgb)
        t2 = clock()
        signals = _signals(p)
        t3 = clock()
        bank.match({n: signals[n] for n in names})
        t4 = clock()
        phases["plain pdq hash"].append(t1 - t0)
        phases["pdq-robust hash"].append(t2 - t1)
        phases["hash_file (default signals, incl. decode)"].append(t3 - t2)
        phases["match (default signals)"].append(t4 - t3)
        phases["upload check total"].append(t4 - t2)
        for part, seconds in robust_parts(rgb).items():
            phases[f"pdq-robust part: {part}"].append(seconds)
    return {name: 1000 * statistics.median(values) for name, values in phases.items()} | {
        f"{name} p95": 1000 * float(np.percentile(values, 95)) for name, values in phases.items()
    }


def report(result: dict[str, Any]) -> str:
    lines = [
        f"originals: {result['originals']}, edits: {result['edits']}, "
        f"variants: {result['variants']}, run time {result['seconds']:.0f} s",
        "false matches among distinct originals: "
        f"cordon {result['false_matches_distinct']['cordon']}, "
        f"plain pdq {result['false_matches_distinct']['plain pdq']}"
        + (f" ({', '.join('/'.join(p) for p in result['false_match_pairs'])})"
           if result["false_match_pairs"] else ""),
        "pairs of originals with the same content (full-size SIFT + homography, both ways), "
        "matched and counted as right: "
        + (", ".join("/".join(p) for p in result["same_content_pairs"]) or "none"),
        "",
        f"{'family':<20} {'strength':<24} {'cordon':>8} {'wrong':>5} {'prec':>7} "
        f"{'pdq@31':>8} {'wrong':>5} {'prec':>7}",
    ]
    for row in result["rows"]:
        if row["strength"] == "*":
            continue
        c, p = row["cordon"], row["plain pdq"]
        lines.append(
            f"{row['family']:<20} {row['strength']:<24} {_percent(c['recall']):>8} {c['wrong']:>5} "
            f"{_percent(c['precision']):>7} {_percent(p['recall']):>8} {p['wrong']:>5} "
            f"{_percent(p['precision']):>7}"
        )
    if result.get("wrong_examples"):
        lines.append(
            "wrong matches (cordon): "
            + "; ".join(
                f"{w['original']} {'/'.join(w['edit'])} -> {', '.join(w['matched'])}"
                for w in result["wrong_examples"]
            )
        )
    lines += [
        "",
        "techniques (pdq-robust index options), recall per family "
        f"(one original in {result.get('ablation_stride', 1)}):",
    ]
    names = list(ABLATIONS)
    lines.append(f"{'family':<20} " + " ".join(f"{n[:22]:>23}" for n in names))
    for row in result["rows"]:
        if row["strength"] == "*":
            lines.append(
                f"{row['family']:<20} "
                + " ".join(
                    f"{_percent(row[n]['recall']):>17} w={row[n]['wrong']:<3}" for n in names
                )
            )
    lines += [
        "",
        "query ms (median): "
        + ", ".join(f"{n}: {v:.2f}" for n, v in result["query_ms_median"].items()),
    ]
    lines.append("bank: " + ", ".join(f"{k}: {v:.0f}" for k, v in result["bank"].items()))
    if "timing_ms" in result:
        lines.append(
            "upload check, one core, ms: "
            + ", ".join(f"{k}: {v:.1f}" for k, v in result["timing_ms"].items())
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="40 originals instead of all")
    parser.add_argument("--families", help="comma-separated edit families to run (default: all)")
    parser.add_argument(
        "--edits", help="comma-separated edits to run as family/strength (e.g. 'crop centre/30%%')"
    )
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--timing", type=int, default=100, help="images in the timing pass")
    parser.add_argument(
        "--ablation-stride",
        type=int,
        default=None,
        help="originals used by the technique table: every Nth (default 1 with --quick, else 4)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--images-only", action="store_true", help="skip the video benchmark")
    args = parser.parse_args()
    started = time.perf_counter()
    if args.ablation_stride is None:
        args.ablation_stride = 1 if args.quick else 4
    result = run(args)
    if args.timing:
        result["timing_ms"] = timing(corpus(), args.timing)
    text = report(result)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    suffix = "-quick" if args.quick else ""
    (args.out / f"robustness{suffix}.json").write_text(json.dumps(result, indent=1, default=str))
    (args.out / f"robustness{suffix}.txt").write_text(text + "\n")
    if args.images_only or args.edits or args.families:
        return
    videos = [sys.executable, str(ROOT / "benchmarks" / "robustness_video.py"), "--jobs",
              str(args.jobs), "--out", str(args.out), *(["--quick"] if args.quick else [])]
    print(flush=True)
    status = subprocess.call(videos)
    if status:
        raise SystemExit(f"the video benchmark failed (exit status {status})")
    print(f"\nimages and videos: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
