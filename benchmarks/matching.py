"""PDQ matching: Cordon's PdqIndex against python-threatexchange's indexes and a brute-force scan.

One run, same data, same queries, side by side, at each bank size:
- Cordon `PdqIndex` (exact multi-index hashing in NumPy);
- python-threatexchange `PDQIndex` (faiss `IndexBinaryMultiHash`, what HMA uses);
- python-threatexchange `PDQIndex2` (faiss `IndexFlatL2` on 0/1 floats: 1 KB per hash, so it
  is only built up to `--te2-max`);
- a brute-force NumPy popcount scan, which is also the ground truth for recall.

The bank is random hashes plus clusters of near-duplicates (fixed seed); half of the queries are
near-duplicates of banked hashes (0-40 bits flipped), half are random. Latencies are medians and
99th percentiles over the queries; then `benchmarks/matching_vpdq.py` runs when it is present.

    .venv/bin/python benchmarks/matching.py --sizes 1000000,10000000 --queries 500
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from _common import percentile, print_table, rss_bytes, timed, write_json

from cordon.index.pdq import PdqIndex, hashes_to_words, words_to_hex
from cordon.signals.pdq import PdqHash

MB = 1_000_000
_BLOCK = 1 << 16


# --- data ------------------------------------------------------------------------------------
def _flip_random_bits(words: np.ndarray, max_bits: int, rng: np.random.Generator) -> np.ndarray:
    """Flip about 0..max_bits random bits in each row (a per-row flip probability)."""
    out = words.copy()
    for begin in range(0, len(words), _BLOCK):
        block = out[begin : begin + _BLOCK]
        chance = rng.uniform(0, max_bits / 256, size=(len(block), 1))
        flips = np.packbits(rng.random((len(block), 256)) < chance, axis=1)
        block ^= flips.view(np.uint64)
    return out


def make_bank(size: int, rng: np.random.Generator) -> np.ndarray:
    """Random hashes, with a fifth of the bank in clusters of 10 near-duplicates."""
    clustered = size // 5
    centres = rng.integers(0, 2**64, size=(max(1, clustered // 10), 4), dtype=np.uint64)
    near = _flip_random_bits(np.repeat(centres, 10, axis=0)[:clustered], 48, rng)
    plain = rng.integers(0, 2**64, size=(size - clustered, 4), dtype=np.uint64)
    bank = np.concatenate([near, plain])
    return bank[rng.permutation(size)]


def make_queries(bank: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    near = _flip_random_bits(bank[rng.integers(0, len(bank), count - count // 2)], 40, rng)
    plain = rng.integers(0, 2**64, size=(count // 2, 4), dtype=np.uint64)
    queries = np.concatenate([near, plain])
    return queries[rng.permutation(count)]


def brute_force(bank: np.ndarray, query: np.ndarray, threshold: int) -> set[int]:
    hits = []
    for begin in range(0, len(bank), 1 << 20):
        counts = np.bitwise_count(bank[begin : begin + (1 << 20)] ^ query).sum(
            axis=1, dtype=np.uint16
        )
        hits.append(np.flatnonzero(counts <= threshold) + begin)
    return set(np.concatenate(hits).tolist())


# --- measurements ----------------------------------------------------------------------------
def _latencies(query_one: Any, hexes: list[str]) -> dict[str, float]:
    samples = [timed(lambda h=h: query_one(h))[0] * 1000 for h in hexes]
    return {"p50_ms": statistics.median(samples), "p99_ms": percentile(samples, 99)}


def _recall(truth: list[set[int]], found: list[set[int]]) -> dict[str, Any]:
    expected = sum(len(t) for t in truth)
    hit = sum(len(t & f) for t, f in zip(truth, found, strict=True))
    extra = sum(len(f - t) for t, f in zip(truth, found, strict=True))
    return {
        "recall": hit / expected if expected else 1.0,
        "expected_pairs": expected,
        "extra_pairs": extra,
        "identical": all(t == f for t, f in zip(truth, found, strict=True)),
    }


def _cold_load(path: Path) -> dict[str, float]:
    """Load the snapshot in a fresh process after evicting it from the page cache."""
    with open(path, "rb") as snapshot:
        os.fsync(snapshot.fileno())
        os.posix_fadvise(snapshot.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
    script = (
        "import json, sys, time\n"
        "sys.path.insert(0, sys.argv[2])\n"
        "from _common import rss_bytes\n"
        "from cordon.index.pdq import PdqIndex\n"
        "before = rss_bytes(); start = time.perf_counter()\n"
        "index = PdqIndex.load(sys.argv[1])\n"
        "elapsed = time.perf_counter() - start\n"
        "print(json.dumps({'load_s': elapsed, 'rss_mb': (rss_bytes() - before) / 1e6,"
        " 'entries': len(index)}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(path), str(Path(__file__).parent)],
        check=True, capture_output=True, text=True,
    )
    return json.loads(out.stdout)


def _cordon_in_memory(
    bank: np.ndarray, hexes: list[str], verify: list[int], threshold: int, batch: int,
    path: Path, rng: np.random.Generator,
) -> tuple[dict[str, Any], list[set[int]]]:
    index = PdqIndex(threshold=threshold)
    keys = np.arange(len(bank), dtype=np.int64)
    build_s, _ = timed(lambda: index.add_arrays(keys, bank))
    result: dict[str, Any] = {"build_s": build_s, "index_mb": index.nbytes / MB}
    result |= _latencies(lambda h: index.query(PdqHash(h)), hexes)
    values = [PdqHash(h) for h in hexes]
    batch_s, _ = timed(
        lambda: [index.query_many(values[i : i + batch]) for i in range(0, len(values), batch)]
    )
    result["batch_qps"] = len(values) / batch_s
    found = [{m.key for m in index.query(PdqHash(hexes[i]))} for i in verify]

    # Writes on the full index: 10,000 new entries, in bulk and one by one, then removed.
    fresh = rng.integers(0, 2**64, size=(10_000, 4), dtype=np.uint64)
    fresh_keys = (np.arange(10_000) + len(bank)).tolist()
    items = list(zip(fresh_keys, [PdqHash(h) for h in words_to_hex(fresh)], strict=True))
    result["add_10k_bulk_s"], _ = timed(lambda: index.add_many(items))
    assert [m.key for m in index.query(items[77][1])] == [fresh_keys[77]]
    result["remove_10k_bulk_s"], _ = timed(lambda: index.remove_many(fresh_keys))
    result["add_10k_single_s"], _ = timed(lambda: [index.add(k, v) for k, v in items])
    result["remove_10k_single_s"], _ = timed(lambda: [index.remove(k) for k in fresh_keys])
    assert len(index) == len(bank) and not index.query(items[77][1])

    result["save_s"], _ = timed(lambda: index.save(path))
    result["snapshot_mb"] = path.stat().st_size / MB
    return result, found


def bench_cordon(
    bank: np.ndarray, queries: np.ndarray, hexes: list[str], verify: list[int],
    threshold: int, batch: int, workdir: Path, rng: np.random.Generator,
) -> tuple[dict[str, Any], list[set[int]]]:
    path = workdir / "bank.pdqidx"
    result, found = _cordon_in_memory(bank, hexes, verify, threshold, batch, path, rng)
    gc.collect()  # the in-memory index is gone before the snapshot is loaded
    cold = _cold_load(path)
    result["cold_load_s"] = cold["load_s"]
    result["loaded_rss_mb"] = cold["rss_mb"]
    path.unlink()
    return result, found


def bench_pdq_index(
    hexes_bank: list[str], hexes: list[str], verify: list[int], threshold: int
) -> tuple[dict[str, Any], list[set[int]]]:
    from threatexchange.signal_type.pdq.pdq_index import PDQIndex

    gc.collect()
    before = rss_bytes()
    entries = zip(hexes_bank, range(len(hexes_bank)), strict=True)
    build_s, index = timed(lambda: PDQIndex(entries=entries))
    result: dict[str, Any] = {"build_s": build_s, "rss_growth_mb": (rss_bytes() - before) / MB}
    result |= _latencies(index.query, hexes)
    # PDQIndex has no batch call; its faiss wrapper does (and runs on every core).
    batch_s, _ = timed(lambda: index.index.search_with_distance_in_result(hexes, threshold))
    result["batch_qps"] = len(hexes) / batch_s
    found = [{m.metadata for m in index.query(hexes[i])} for i in verify]
    return result, found


def bench_pdq_index2(
    hexes_bank: list[str], hexes: list[str], verify: list[int], threshold: int
) -> tuple[dict[str, Any], list[set[int]]]:
    from threatexchange.signal_type.pdq.pdq_index2 import PDQIndex2

    gc.collect()
    before = rss_bytes()
    entries = zip(hexes_bank, range(len(hexes_bank)), strict=True)
    build_s, index = timed(lambda: PDQIndex2(entries=entries, threshold=threshold))
    result: dict[str, Any] = {"build_s": build_s, "rss_growth_mb": (rss_bytes() - before) / MB}
    # A flat float scan: a sample of the queries is enough for a median.
    sample = hexes[: max(20, len(hexes) // 10)]
    result |= _latencies(index.query, sample)
    batch_s, _ = timed(lambda: index._index.search(sample, threshold))
    result["batch_qps"] = len(sample) / batch_s
    found = [{m.metadata for m in index.query(hexes[i])} for i in verify]
    return result, found


def bench_brute(
    bank: np.ndarray, queries: np.ndarray, verify: list[int], threshold: int
) -> tuple[dict[str, Any], list[set[int]]]:
    truth, samples = [], []
    for i in verify:
        elapsed, hits = timed(lambda i=i: brute_force(bank, queries[i], threshold))
        truth.append(hits)
        samples.append(elapsed * 1000)
    result = {
        "p50_ms": statistics.median(samples),
        "p99_ms": percentile(samples, 99),
        "batch_qps": 1000 / statistics.median(samples),
        "index_mb": bank.nbytes / MB,
    }
    return result, truth


def run_size(size: int, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    rng = np.random.default_rng(args.seed + size)
    print(f"\n== {size:,} hashes: generating ...", flush=True)
    bank = make_bank(size, rng)
    queries = make_queries(bank, args.queries, rng)
    hexes = words_to_hex(queries)
    assert np.array_equal(hashes_to_words(hexes), queries)
    # The queries are shuffled, so the verified ones mix near-duplicates and random hashes.
    verify = list(range(min(args.verify, len(queries))))
    out: dict[str, Any] = {"size": size, "queries": len(queries), "verified": len(verify)}

    print("   brute force ...", flush=True)
    out["brute_force"], truth = bench_brute(bank, queries, verify, args.threshold)
    out["matched_queries"] = sum(bool(t) for t in truth)

    print("   cordon PdqIndex ...", flush=True)
    ours, found = bench_cordon(
        bank, queries, hexes, verify, args.threshold, args.batch, workdir, rng
    )
    out["cordon"] = ours | _recall(truth, found)

    hexes_bank = words_to_hex(bank) if size <= max(args.te_max, args.te2_max) else []
    if size <= args.te_max:
        print("   threatexchange PDQIndex ...", flush=True)
        theirs, found = bench_pdq_index(hexes_bank, hexes, verify, args.threshold)
        out["threatexchange_pdq_index"] = theirs | _recall(truth, found)
    if size <= args.te2_max:
        print("   threatexchange PDQIndex2 ...", flush=True)
        theirs, found = bench_pdq_index2(hexes_bank, hexes, verify, args.threshold)
        out["threatexchange_pdq_index2"] = theirs | _recall(truth, found)
    return out


def _rows(result: dict[str, Any]) -> list[list[Any]]:
    names = {
        "cordon": "cordon PdqIndex",
        "threatexchange_pdq_index": "pytx PDQIndex (faiss MIH)",
        "threatexchange_pdq_index2": "pytx PDQIndex2 (faiss flat)",
        "brute_force": "brute-force numpy scan",
    }
    rows = []
    for key, name in names.items():
        r = result.get(key)
        if r is None:
            rows.append([f"{result['size']:,}", name, "not built (see --te-max/--te2-max)"]
                        + ["-"] * 9)
            continue
        memory = r.get("loaded_rss_mb", r.get("rss_growth_mb", r.get("index_mb")))
        recall = r.get("recall")
        rows.append([
            f"{result['size']:,}", name, r.get("build_s"), memory,
            r["p50_ms"], r["p99_ms"], r["batch_qps"],
            "-" if recall is None else f"{recall:.2%}" + ("" if r["identical"] else " *"),
            r.get("add_10k_bulk_s"), r.get("remove_10k_bulk_s"),
            r.get("add_10k_single_s"), r.get("cold_load_s"),
        ])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000000,10000000",
                        help="comma-separated bank sizes (default: 1000000,10000000)")
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--verify", type=int, default=100,
                        help="queries checked against brute force (default: 100)")
    parser.add_argument("--threshold", type=int, default=31)
    parser.add_argument("--batch", type=int, default=256, help="query_many batch size")
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--te-max", type=int, default=10_000_000,
                        help="largest size at which pytx PDQIndex is built")
    parser.add_argument("--te2-max", type=int, default=1_000_000,
                        help="largest size at which pytx PDQIndex2 (1 KB/hash) is built")
    parser.add_argument("--no-vpdq", action="store_true", help="skip benchmarks/matching_vpdq.py")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]

    results = []
    with tempfile.TemporaryDirectory(prefix="cordon-bench-") as workdir:
        for size in sizes:
            results.append(run_size(size, args, Path(workdir)))
            gc.collect()

    headers = ["size", "index", "build s", "memory MB", "p50 ms", "p99 ms", "batch q/s",
               "recall", "add 10k s", "rm 10k s", "add 10k 1-by-1 s", "cold load s"]
    print_table(
        f"PDQ matching at threshold {args.threshold}: {args.queries} queries "
        "(half near-duplicates of banked hashes), medians",
        headers, [row for r in results for row in _rows(r)],
    )
    print("memory: cordon = RSS of a fresh process after loading the snapshot; pytx = RSS growth "
          "during the build; brute force = the raw hashes. recall is on the verified queries, "
          "'*' marks result sets that differ from brute force.")
    for r in results:
        ours, theirs = r["cordon"], r.get("threatexchange_pdq_index")
        if theirs:
            print(f"{r['size']:,}: cordon vs pytx PDQIndex: "
                  f"p50 {theirs['p50_ms'] / ours['p50_ms']:.1f}x, "
                  f"p99 {theirs['p99_ms'] / ours['p99_ms']:.1f}x, "
                  f"batch {ours['batch_qps'] / theirs['batch_qps']:.1f}x faster")

    payload: dict[str, Any] = {"pdq": results}
    if not args.no_vpdq:
        payload["vpdq"] = _run_vpdq()
    print(f"\nwrote {write_json('matching', payload)}")


def _run_vpdq() -> dict[str, Any] | None:
    try:
        import matching_vpdq  # type: ignore[import-not-found]
    except ImportError:
        print("\nbenchmarks/matching_vpdq.py is not available; vPDQ matching skipped")
        return None
    print("\n== vPDQ matching (benchmarks/matching_vpdq.py)", flush=True)
    result = matching_vpdq.run()
    printer = getattr(matching_vpdq, "_print_table", None)
    if printer is not None:
        printer(result)
    return result


if __name__ == "__main__":
    main()
