"""Retro-scan throughput: `cordon scan` over an image corpus against a bank, locally and on Ray.

    .venv/bin/python benchmarks/scan.py [--images 400] [--bank 100000] [--jobs 2] [--repeat 3]

The corpus is the shared real images (../shared/corpus/images, 276 files) repeated under
numbered folders up to `--images` files (every file is hashed again: the scan has no cache);
the bank holds `--bank` random PDQ hashes (bulk import) plus the PDQ, MD5 and SHA-256 of
every tenth shared image, so matches are found and described. Each run is the real command in a
subprocess (`cordon scan ... --output FILE --format json`, a fresh output file each time) and
its own summary gives files/s (from the first file to the last, after the matcher is loaded);
wall time includes start-up and loading the bank. `--engine ray` runs when Ray is installed
(its wall time includes starting a local Ray instance).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from _common import print_table, write_json
from _servers import load_average

from cordon.banks import Banks
from cordon.store import Store

SHARED = Path(os.environ.get("CORDON_SHARED", Path(__file__).resolve().parents[1].parent
                             / "shared"))


def build_corpus(root: Path, count: int) -> list[Path]:
    images = sorted(p for p in (SHARED / "corpus" / "images").iterdir() if p.is_file())
    if not images:
        sys.exit(f"no images in {SHARED / 'corpus' / 'images'} (../shared is absent)")
    made: list[Path] = []
    for i in range(count):
        folder = root / f"part{i // len(images):03d}"
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / images[i % len(images)].name
        target.symlink_to(images[i % len(images)])
        made.append(target)
    return made


def run(database_url: str, corpus: Path, output: Path, engine: str, jobs: int) -> dict[str, Any]:
    command = [sys.executable, "-m", "cordon", "--db", database_url, "scan", str(corpus),
               "--output", str(output), "--format", "json", "--engine", engine,
               "--jobs", str(jobs)]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, timeout=3600)
    wall = time.perf_counter() - start
    if done.returncode not in (0, 1):
        raise RuntimeError(f"scan failed ({done.returncode}): {done.stderr[-2000:]}")
    summary = json.loads(done.stdout.splitlines()[-1])["summary"]
    return {**summary, "wall_s": wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=400)
    parser.add_argument("--bank", type=int, default=100_000)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rng = random.Random(11)
    engines = ["local"] + (["ray"] if find_spec("ray") is not None else [])
    results: dict[str, Any] = {"load_before": load_average(), "images": args.images,
                               "bank": args.bank, "jobs": args.jobs, "runs": {}}
    with tempfile.TemporaryDirectory(prefix="cordon-scanbench-") as scratch:
        root = Path(scratch)
        corpus = build_corpus(root / "corpus", args.images)
        database_url = f"sqlite:///{root / 'cordon.db'}"
        source = root / "bank.txt"
        with open(source, "w") as out:
            out.writelines(f"pdq {rng.getrandbits(256):064x}\n" for _ in range(args.bank))
        with Store(database_url) as store:
            banks = Banks(store)
            banks.create("bench")
            banks.import_file("bench", source)
        banked = root / "banked"
        banked.mkdir()
        for path in corpus[: min(len(corpus), 276)][::10]:
            (banked / path.name).symlink_to(path.resolve())
        added = subprocess.run([sys.executable, "-m", "cordon", "--db", database_url, "bank",
                                "add", "bench", str(banked)], capture_output=True, text=True)
        if added.returncode != 0:
            raise RuntimeError(added.stderr)
        for engine in engines:
            runs = [run(database_url, root / "corpus", root / f"out-{engine}-{i}.jsonl", engine,
                        args.jobs) for i in range(args.repeat)]
            results["runs"][engine] = runs
    results["load_after"] = load_average()
    rows = []
    for engine, runs in results["runs"].items():
        rows.append([f"{engine}, {args.jobs} workers", runs[0]["files"],
                     statistics.median(r["files_per_second"] for r in runs),
                     statistics.median(r["wall_s"] for r in runs),
                     statistics.median(r["matched"] for r in runs),
                     statistics.median(r["failed"] for r in runs)])
    print_table(f"cordon scan, {args.images} images against {args.bank:,}+ entries (median of "
                f"{args.repeat}; load {results['load_before']} -> {results['load_after']})",
                ["engine", "files", "images/s", "wall s", "matched", "failed"], rows)
    if "ray" not in engines:
        print("ray is not installed: the Ray engine was not measured")
    print(f"results: {write_json('scan', results)}")


if __name__ == "__main__":
    main()
