"""vPDQ matching: one query video against a bank of videos, Cordon vs python-threatexchange.

The bank is synthetic (random 256-bit frame hashes at 1 frame per second, 30-120 s per video),
which is the worst case for the frame index: nothing deduplicates. Every query is a 60-second
video whose middle 20 seconds are a copy of a banked video (each frame with 8 bits flipped, as a
re-encode does) and the rest new frames, so each query has exactly one true match, which both
indexes must find. Timings are medians over the queries.

    .venv/bin/python benchmarks/matching_vpdq.py [--videos 10000] [--queries 21] [--json PATH]
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from cordon.index.vpdq import VpdqIndex
from cordon.signals import get_signal_type
from cordon.signals.vpdq import VpdqFrame, VpdqHash

VPDQ = get_signal_type("vpdq")
_FLIPPED_BITS = 8
_CLIP_SECONDS = 20


def _video(codes: np.ndarray, start: float = 0.0) -> VpdqHash:
    hexes = codes.tobytes().hex()
    return VpdqHash(
        tuple(
            VpdqFrame(i * 30, 100, hexes[i * 64 : (i + 1) * 64], start + i)
            for i in range(len(codes))
        )
    )


def _flip(codes: np.ndarray, bits: int, rng: np.random.Generator) -> np.ndarray:
    out = codes.copy()
    for row in out:
        for bit in rng.choice(256, bits, replace=False):
            row[bit // 8] ^= np.uint8(1 << (bit % 8))
    return out


def _bank(n_videos: int, rng: np.random.Generator) -> list[np.ndarray]:
    lengths = rng.integers(30, 121, size=n_videos)
    return [rng.integers(0, 256, size=(int(n), 32), dtype=np.uint8) for n in lengths]


def _queries(
    bank: list[np.ndarray], n_queries: int, seconds: int, rng: np.random.Generator
) -> list[tuple[int, int, VpdqHash]]:
    """(banked video, its start second copied, query hash) per query."""
    out = []
    for _ in range(n_queries):
        target = int(rng.integers(len(bank)))
        source = bank[target]
        start = int(rng.integers(0, len(source) - _CLIP_SECONDS + 1))
        clip = _flip(source[start : start + _CLIP_SECONDS], _FLIPPED_BITS, rng)
        before = (seconds - _CLIP_SECONDS) // 2
        after = seconds - _CLIP_SECONDS - before
        codes = np.concatenate(
            [
                rng.integers(0, 256, size=(before, 32), dtype=np.uint8),
                clip,
                rng.integers(0, 256, size=(after, 32), dtype=np.uint8),
            ]
        )
        out.append((target, start, _video(codes)))
    return out


def _time(fn: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def _cordon(bank_hashes: list[VpdqHash], queries: list[tuple[int, int, VpdqHash]]) -> dict:
    # Any video sharing 25% of either side's frames, so the 20 s clip in a 60 s query is found.
    index = VpdqIndex(threshold=0.75)
    build, _ = _time(lambda: index.add_many(enumerate(bank_hashes)))
    times, found, aligned = [], 0, 0
    for target, start, query in queries:
        elapsed, matches = _time(lambda q=query: index.query(q))
        times.append(elapsed)
        hit = next((m for m in matches if m.key == target), None)
        if hit is not None:
            found += 1
            segment = hit.detail["segments"][0] if hit.detail["segments"] else None
            expected_query_start = (60 - _CLIP_SECONDS) // 2
            if segment and abs(segment["ref_start"] - start) <= 1 and abs(
                segment["query_start"] - expected_query_start
            ) <= 1:
                aligned += 1
    return {
        "build_s": build,
        "frames": index.frame_count,
        "query_ms": [t * 1000 for t in times],
        "found": found,
        "aligned": aligned,
    }


def _threatexchange(
    bank_hashes: list[VpdqHash], queries: list[tuple[int, int, VpdqHash]]
) -> dict | None:
    try:
        from threatexchange.extensions.vpdq.vpdq_index import VPDQIndex
    except ImportError:  # needs the compiled `vpdq` package
        return None
    # python-threatexchange's default asks 80% of the query; the clip is a third of it.
    index = VPDQIndex(query_match_threshold_pct=25.0)
    entries = [(VPDQ.format(h), key) for key, h in enumerate(bank_hashes)]
    build, _ = _time(lambda: index.add_all(entries))
    times, found = [], 0
    for target, _start, query in queries:
        signal = VPDQ.format(query)
        elapsed, matches = _time(lambda s=signal: index.query(s))
        times.append(elapsed)
        found += any(m.metadata == target for m in matches)
    return {"build_s": build, "query_ms": [t * 1000 for t in times], "found": found}


def run(
    n_videos: int = 10_000, n_queries: int = 21, query_seconds: int = 60, seed: int = 0,
    reference: bool = True,
) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    bank = _bank(n_videos, rng)
    bank_hashes = [_video(codes) for codes in bank]
    queries = _queries(bank, n_queries, query_seconds, rng)
    gc.collect()
    ours = _cordon(bank_hashes, queries)
    theirs = _threatexchange(bank_hashes, queries) if reference else None
    result: dict[str, Any] = {
        "videos": n_videos,
        "bank_frames": ours["frames"],
        "queries": n_queries,
        "query_seconds": query_seconds,
        "cordon_build_s": round(ours["build_s"], 2),
        "cordon_query_ms_median": round(statistics.median(ours["query_ms"]), 1),
        "cordon_found": ours["found"],
        "cordon_aligned": ours["aligned"],
    }
    if theirs is not None:
        median = statistics.median(theirs["query_ms"])
        result |= {
            "threatexchange_build_s": round(theirs["build_s"], 2),
            "threatexchange_query_ms_median": round(median, 1),
            "threatexchange_found": theirs["found"],
            "speedup": round(median / statistics.median(ours["query_ms"]), 2),
        }
    return result


def _print_table(result: dict[str, Any]) -> None:
    print(
        f"vPDQ matching: {result['queries']} queries of {result['query_seconds']} s against "
        f"{result['videos']:,} videos ({result['bank_frames']:,} frames), medians"
    )
    print(f"{'':26}{'build (s)':>12}{'query (ms)':>12}{'found':>8}{'aligned':>9}")
    n = result["queries"]
    print(
        f"{'cordon VpdqIndex':26}{result['cordon_build_s']:>12}"
        f"{result['cordon_query_ms_median']:>12}{result['cordon_found']:>5}/{n}"
        f"{result['cordon_aligned']:>6}/{n}"
    )
    if "threatexchange_query_ms_median" in result:
        print(
            f"{'threatexchange VPDQIndex':26}{result['threatexchange_build_s']:>12}"
            f"{result['threatexchange_query_ms_median']:>12}{result['threatexchange_found']:>5}/{n}"
            f"{'-':>9}"
        )
        print(f"query speed-up: {result['speedup']}x")
    else:
        print("python-threatexchange's VPDQIndex is not available (needs the vpdq package)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=21)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-reference", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    result = run(args.videos, args.queries, seed=args.seed, reference=not args.no_reference)
    _print_table(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
