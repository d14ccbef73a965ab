"""Report intake of the node: `POST /v1/reports` under load, over real HTTP.

    .venv/bin/python benchmarks/reports.py [--seconds 20] [--clients 8] [--runs 3]
        [--images 200] [--entries 10000] [--workers 1]

A real node (`cordon node serve --no-hub`, uvicorn, `--workers` processes) runs in a subprocess on a
loopback port with a scratch SQLite database and moderation directory. Its private bank holds
`--entries` random PDQ hashes plus the hashes of a quarter of the `--images` generated photos
(640x480 JPEGs, ~40 KB). Each run sends reports from `--clients` concurrent clients for
`--seconds`:

- 3 in 4 are the public form: multipart with a photo, reason, explanation, good faith; the
  node hashes the upload (MD5, SHA-256, PDQ), matches it, encrypts and keeps the content,
  opens a case or merges the report into the open case of the same content (photos repeat);
- 1 in 4 are JSON with a URL on a private network: the node's guarded fetcher refuses it at
  once, the report is kept with the reason.

With few `--images` most uploads repeat content already open in the queue (duplicate reports:
merged, not hashed again); with many (e.g. 3000) nearly every upload is new and hashed.

Figures: reports per second (median of the runs), latency percentiles, failures. The 2 cores
are shared by the node, this load generator and whatever else runs: the load average is
recorded next to the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from _common import percentile, print_table, write_json
from _servers import Server, load_average
from PIL import Image

from cordon.banks import Banks
from cordon.hashing import MatchingSelection, hash_file
from cordon.node.moderation.access import create_token
from cordon.node.service import Node
from cordon.signals import get_signal_type
from cordon.store import Store

TARGET = 100.0


def photo(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 255, size=(480 // 40, 640 // 40, 3)).repeat(40, 0).repeat(40, 1)
    y, x = np.mgrid[0:480, 0:640].astype(np.float32)
    wave = (np.sin(x / (9 + seed % 11)) * 40 + np.cos(y / 17) * 40)[..., None]
    buffer = io.BytesIO()
    Image.fromarray((blocks + wave).clip(0, 255).astype(np.uint8), "RGB").save(
        buffer, "JPEG", quality=85)
    return buffer.getvalue()


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process and its descendants (the worker processes of
    `--workers N`) have used so far."""
    parents: dict[int, int] = {}
    ticks: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # a process that just ended
        child = int(stat.parent.name)
        parents[child] = int(fields[1])
        ticks[child] = int(fields[11]) + int(fields[12])
    tree, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        for child, its_parent in parents.items():
            if its_parent == parent and child not in tree:
                tree.add(child)
                frontier.append(child)
    return sum(ticks.get(p, 0) for p in tree) / os.sysconf("SC_CLK_TCK")


def prepare(workdir: Path, images: list[bytes], entries: int) -> tuple[str, str]:
    """The node database with its bank and a service token; returns (url, token)."""
    url = f"sqlite:///{workdir / 'node.db'}"
    rng = random.Random(7)
    pdq = get_signal_type("pdq")
    with Store(url) as store:
        banks = Banks(store)
        banks.create("known", "benchmark bank")
        bank_file = workdir / "bank.txt"
        with open(bank_file, "w") as out:
            out.writelines(f"pdq {rng.getrandbits(256):064x}\n" for _ in range(entries))
            for index, data in enumerate(images[: len(images) // 4]):
                path = workdir / f"known-{index}.jpg"
                path.write_bytes(data)
                value = hash_file(path, MatchingSelection(frozenset({"pdq"}))).signals["pdq"]
                out.write(f"pdq {pdq.format(value)}\n")
        banks.import_file("known", bank_file)
        _, token = create_token(Node(store), "bench", "service")
    return url, token


async def load(base: str, token: str, images: list[bytes], clients: int,
               seconds: float, seed: int) -> dict[str, Any]:
    latencies: dict[str, list[float]] = {"upload": [], "url": []}
    failures: dict[str, int] = {}
    stop_at = time.perf_counter() + seconds
    rng = random.Random(seed)

    async def client(http: httpx.AsyncClient) -> None:
        while time.perf_counter() < stop_at:
            kind = "url" if rng.random() < 0.25 else "upload"
            start = time.perf_counter()
            try:
                if kind == "upload":
                    response = await http.post("/v1/reports", data={
                        "reason": "behaviour:glorification", "explanation": "benchmark",
                        "good_faith": "on"}, files={"file": (
                            "p.jpg", rng.choice(images), "image/jpeg")})
                else:
                    response = await http.post("/v1/reports", json={
                        "urls": [f"http://10.1.{rng.randrange(256)}.{rng.randrange(256)}/p"],
                        "reason": "behaviour:incitement", "explanation": "benchmark",
                        "good_faith": True})
                ok = response.status_code == 201
                key = str(response.status_code)
            except httpx.HTTPError as exc:
                ok, key = False, type(exc).__name__
            if ok:
                latencies[kind].append(time.perf_counter() - start)
            else:
                failures[key] = failures.get(key, 0) + 1

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60,
                                 headers={"Authorization": f"Bearer {token}"}) as http:
        started = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(clients)))
        elapsed = time.perf_counter() - started
    done = sum(len(v) for v in latencies.values())
    every = [s for v in latencies.values() for s in v]
    return {"reports": done, "seconds": round(elapsed, 2), "per_second": done / elapsed,
            "p50_ms": percentile(every, 50) * 1000, "p95_ms": percentile(every, 95) * 1000,
            "upload_p50_ms": percentile(latencies["upload"], 50) * 1000,
            "url_p50_ms": percentile(latencies["url"], 50) * 1000,
            "failures": failures, "load_average": load_average()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=1, help="node processes")
    args = parser.parse_args()
    images = [photo(seed) for seed in range(args.images)]
    with tempfile.TemporaryDirectory(prefix="cordon-bench-reports-") as scratch:
        workdir = Path(scratch)
        url, token = prepare(workdir, images, args.entries)
        os.environ["CORDON_MODERATION_DIR"] = str(workdir / "moderation")
        server = Server("node-reports", ["node", "serve", "--no-hub", "--db", url,
                                         "--workers", str(args.workers)])
        server.start()
        assert server.process is not None
        try:
            runs = []
            for seed in range(args.runs):
                cpu_before = process_cpu(server.process.pid)
                run = asyncio.run(load(server.base, token, images, args.clients,
                                       args.seconds, seed))
                cpu = process_cpu(server.process.pid) - cpu_before
                run["node_cpu_ms_per_report"] = cpu * 1000 / max(run["reports"], 1)
                runs.append(run)
        finally:
            server.stop()
        kept = len(list((workdir / "moderation").glob("*.enc")))
    rates = [r["per_second"] for r in runs]
    print_table(f"Report intake, {args.clients} clients, {args.seconds:g} s per run",
                ["run", "reports", "per s", "p50 ms", "p95 ms", "upload p50", "url p50",
                 "node CPU ms/report", "failures", "load avg"],
                [[i + 1, r["reports"], r["per_second"], r["p50_ms"], r["p95_ms"],
                  r["upload_p50_ms"], r["url_p50_ms"], r["node_cpu_ms_per_report"],
                  sum(r["failures"].values()), r["load_average"]] for i, r in enumerate(runs)])
    median = statistics.median(rates)
    cpu = statistics.median(r["node_cpu_ms_per_report"] for r in runs)
    print(f"\nmedian {median:.1f} reports/s (target {TARGET:g}); node CPU {cpu:.1f} ms per "
          f"report (one process on one free core: ~{1000 / cpu:.0f}/s); {kept} encrypted "
          "contents kept")
    write_json("reports", {"args": vars(args), "runs": runs, "median_per_second": median,
                           "node_cpu_ms_per_report": cpu, "target_per_second": TARGET,
                           "encrypted_contents": kept})


if __name__ == "__main__":
    main()
