"""The node's match API under load: by hash against a large bank, and by image upload.

    .venv/bin/python benchmarks/node.py [--entries 1000000] [--seconds 20] [--clients 16]
        [--uploads 60] [--upload-clients 2]

A real node (`cordon node serve --no-hub`, uvicorn, one process) runs in a subprocess on a
loopback port, on a scratch SQLite database whose bank is loaded with `--entries` random PDQ
hashes through the bulk import path (`Banks.import_file`, what `cordon bank import` runs).
Load comes from this process over loopback with httpx (asyncio):

1. by hash: `--clients` concurrent clients for `--seconds`, each `POST /v1/match` with
   `{"signals": {"pdq": ...}}`; one query in ten is a banked hash at distance 4 (a match,
   which the node records in its match log), the rest random (no match);
2. by upload: `--uploads` 1-megapixel JPEGs (1152x864, generated) sent as multipart
   `file` from `--upload-clients` clients; the node hashes (MD5, SHA-256, PDQ) and matches.

The machine's 2 cores are shared by the node, this load generator and whatever else runs:
the load average is recorded next to the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import random
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
from cordon.node.service import Node
from cordon.store import Store


def write_bank_file(path: Path, count: int, rng: random.Random) -> list[int]:
    hashes = [rng.getrandbits(256) for _ in range(count)]
    with open(path, "w") as out:
        out.writelines(f"pdq {h:064x}\n" for h in hashes)
    return hashes


def near(value: int, rng: random.Random, bits: int = 4) -> str:
    for bit in rng.sample(range(256), bits):
        value ^= 1 << bit
    return f"{value:064x}"


def jpeg_1mp(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:864, 0:1152].astype(np.float32)
    grey = np.sin(x / (13 + seed % 7)) * 60 + np.cos(y / 19) * 60 + 128
    blocks = rng.integers(0, 80, size=(864 // 48 + 1, 1152 // 48 + 1)).repeat(48, 0).repeat(48, 1)
    grey = grey + blocks[:864, :1152]
    rgb = np.stack([grey, np.roll(grey, 9, axis=1), 255 - grey], axis=2)
    buffer = io.BytesIO()
    Image.fromarray(rgb.clip(0, 255).astype(np.uint8), "RGB").save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


async def hash_load(base: str, token: str, queries: list[str], clients: int,
                    seconds: float) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    matched = 0
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    bodies = [json.dumps({"signals": {"pdq": q}}).encode() for q in queries]
    stop_at = time.perf_counter() + seconds

    async def one(index: int, http: httpx.AsyncClient) -> None:
        nonlocal errors, matched
        i = index
        while time.perf_counter() < stop_at:
            body = bodies[i % len(bodies)]
            i += clients
            start = time.perf_counter()
            response = await http.post("/v1/match", content=body, headers=headers)
            latencies.append(time.perf_counter() - start)
            if response.status_code != 200:
                errors += 1
            elif response.json()["matches"]:
                matched += 1

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as http:
        start = time.perf_counter()
        await asyncio.gather(*(one(i, http) for i in range(clients)))
        elapsed = time.perf_counter() - start
    return {"requests": len(latencies), "seconds": elapsed, "rps": len(latencies) / elapsed,
            "p50_ms": percentile(latencies, 50) * 1000, "p99_ms": percentile(latencies, 99) * 1000,
            "errors": errors, "matched": matched}


async def upload_load(base: str, token: str, images: list[bytes],
                      clients: int) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    queue = list(enumerate(images))
    headers = {"Authorization": f"Bearer {token}"}

    async def one(http: httpx.AsyncClient) -> None:
        nonlocal errors
        while queue:
            index, data = queue.pop()
            start = time.perf_counter()
            response = await http.post("/v1/match", headers=headers,
                                       files={"file": (f"img{index}.jpg", data, "image/jpeg")})
            latencies.append(time.perf_counter() - start)
            errors += response.status_code != 200

    async with httpx.AsyncClient(base_url=base, timeout=120) as http:
        start = time.perf_counter()
        await asyncio.gather(*(one(http) for _ in range(clients)))
        elapsed = time.perf_counter() - start
    return {"requests": len(latencies), "seconds": elapsed, "rps": len(latencies) / elapsed,
            "p50_ms": percentile(latencies, 50) * 1000, "p99_ms": percentile(latencies, 99) * 1000,
            "errors": errors}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--uploads", type=int, default=60)
    parser.add_argument("--upload-clients", type=int, default=2)
    args = parser.parse_args()
    rng = random.Random(20240601)
    results: dict[str, Any] = {"load_before": load_average(), "entries": args.entries}
    with tempfile.TemporaryDirectory(prefix="cordon-nodebench-") as scratch:
        url = f"sqlite:///{Path(scratch) / 'node.db'}"
        source = Path(scratch) / "bank.txt"
        hashes = write_bank_file(source, args.entries, rng)
        with Store(url) as store:
            banks = Banks(store)
            banks.create("bench")
            start = time.perf_counter()
            banks.import_file("bench", source)
            results["import_s"] = time.perf_counter() - start
            _, token = Node(store).create_token("bench")
        print(f"imported {args.entries:,} entries in {results['import_s']:.1f} s")
        server = Server("node", ["node", "serve", "--no-hub", "--db", url])
        try:
            results["ready_s"] = server.start()
            print(f"node ready (index loaded) in {results['ready_s']:.1f} s")
            queries = [near(rng.choice(hashes), rng) if i % 10 == 0
                       else f"{rng.getrandbits(256):064x}" for i in range(5000)]
            asyncio.run(hash_load(server.base, token, queries[:200], args.clients, 2))  # warm up
            rounds = [asyncio.run(hash_load(server.base, token, queries, args.clients,
                                            args.seconds)) for _ in range(args.rounds)]
            rounds.sort(key=lambda r: r["rps"])
            results["by_hash_rounds"] = rounds
            results["by_hash"] = rounds[len(rounds) // 2]
            images = [jpeg_1mp(i) for i in range(args.uploads)]
            results["jpeg_kb"] = sum(map(len, images)) / len(images) / 1024
            results["by_upload"] = asyncio.run(
                upload_load(server.base, token, images, args.upload_clients))
        finally:
            server.stop()
    results["load_after"] = load_average()
    h, u = results["by_hash"], results["by_upload"]
    print_table(
        f"node /v1/match, {args.entries:,}-entry PDQ bank (load {results['load_before']} -> "
        f"{results['load_after']})",
        ["mode", "clients", "requests", "req/s", "p50 ms", "p99 ms", "errors"],
        [[f"by hash (median of {args.rounds} x {args.seconds:g} s)", args.clients,
          h["requests"], h["rps"], h["p50_ms"], h["p99_ms"], h["errors"]],
         [f"by upload (1 MP JPEG, {results['jpeg_kb']:.0f} KB)", args.upload_clients,
          u["requests"], u["rps"], u["p50_ms"], u["p99_ms"], u["errors"]]])
    print(f"\nimport {results['import_s']:.1f} s, node ready {results['ready_s']:.1f} s, "
          f"matched by hash {h['matched']} of {h['requests']}")
    print(f"results: {write_json('node', results)}")


if __name__ == "__main__":
    main()
