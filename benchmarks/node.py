"""The node's match API under load: by hash against a large bank, and by image upload.

    .venv/bin/python benchmarks/node.py [--entries 1000000] [--seconds 20] [--clients 16]
        [--workers 1,2] [--uploads 60] [--upload-clients 2] [--keep-db PATH]

A real node (`cordon node serve --no-hub --workers N`, uvicorn) runs in a subprocess on a
loopback port, on a scratch SQLite database whose bank is loaded with `--entries` random PDQ
hashes through the bulk import path (`Banks.import_file`, what `cordon bank import` runs);
with `--keep-db PATH` the database is kept there and reused by the next run with the same
`--entries`. Each process count of `--workers` is measured in turn. Load comes from this
process over loopback with httpx (asyncio), `--load-processes` processes of it, or, with
`--load wrk`, from wrk (Debian's `wrk`, a C load generator; `--clients` connections from one
thread), which leaves the node most of the 2 cores instead of spending them on Python clients:

1. by hash: `--clients` concurrent clients for `--seconds`, each `POST /v1/match` with
   `{"signals": {"pdq": ...}}`; one query in ten is a banked hash at distance 4 (a match,
   which the node records in its match log), the rest random (no match);
2. by upload: `--uploads` 1-megapixel JPEGs (1152x864, generated) sent as multipart
   `file` from `--upload-clients` clients; the node hashes (MD5, SHA-256, PDQ) and matches.

The machine's 2 cores are shared by the node, this load generator and whatever else runs:
the load average is recorded next to the figures, and so is the CPU time the node's
processes spent per request (from /proc), which is what bounds its rate on 2 cores of its
own: 2 / (CPU seconds per request).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import multiprocessing
import random
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from _common import percentile, print_table, write_json
from _servers import Server, load_average, tree_cpu_seconds
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
            "errors": errors, "matched": matched, "latencies": latencies}


def _load_process(args: tuple[str, str, list[str], int, float]) -> dict[str, Any]:
    return asyncio.run(hash_load(*args))


def hash_rounds(base: str, token: str, queries: list[str], clients: int, seconds: float,
                processes: int, server_pid: int) -> dict[str, Any]:
    """One round of load from `processes` processes of `clients` clients each; with the CPU
    time the server's processes spent per request."""
    share = [queries[i::processes] for i in range(processes)]
    cpu_before = tree_cpu_seconds(server_pid)
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        parts = pool.map(_load_process, [(base, token, q, clients, seconds) for q in share])
    cpu = tree_cpu_seconds(server_pid) - cpu_before
    latencies = [x for part in parts for x in part["latencies"]]
    elapsed = max(part["seconds"] for part in parts)
    requests = len(latencies)
    return {"requests": requests, "seconds": elapsed, "rps": requests / elapsed,
            "p50_ms": percentile(latencies, 50) * 1000,
            "p99_ms": percentile(latencies, 99) * 1000,
            "errors": sum(part["errors"] for part in parts),
            "matched": sum(part["matched"] for part in parts),
            "server_cpu_ms_per_request": cpu / max(1, requests) * 1000}


# wrk cycles through the queries; it counts answers other than 2xx/3xx, and prints its
# latency distribution with --latency.
_WRK_SCRIPT = """
counter = 0
request = function()
  counter = counter + 1
  return wrk.format("POST", "/v1/match", nil, bodies[(counter %% #bodies) + 1])
end
"""


def _wrk_ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]


def wrk_round(base: str, token: str, queries: list[str], connections: int, seconds: float,
              server_pid: int, scratch: Path) -> dict[str, Any]:
    """One round of load from wrk, with the CPU time the server's processes spent per
    request."""
    script = scratch / "match.lua"
    bodies = ",\n".join(f'[[{{"signals": {{"pdq": "{q}"}}}}]]' for q in queries)
    script.write_text(f"bodies = {{\n{bodies}\n}}\n" + _WRK_SCRIPT.replace("%%", "%"))
    cpu_before = tree_cpu_seconds(server_pid)
    output = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--latency", "-s", str(script),
         "-H", f"Authorization: Bearer {token}", "-H", "Content-Type: application/json",
         base + "/"], capture_output=True, text=True, check=True).stdout
    cpu = tree_cpu_seconds(server_pid) - cpu_before
    requests = int(re.search(r"(\d+) requests in ([\d.]+)s", output).group(1))  # type: ignore[union-attr]
    elapsed = float(re.search(r"requests in ([\d.]+)s", output).group(1))  # type: ignore[union-attr]
    latency = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", output, re.M))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: (.*)$", output, re.M)
    errors = int(non_2xx.group(1)) if non_2xx else 0
    if socket_errors:
        errors += sum(int(n) for n in re.findall(r"\d+", socket_errors.group(1)))
    return {"requests": requests, "seconds": elapsed, "rps": requests / elapsed,
            "p50_ms": _wrk_ms(latency["50"]), "p99_ms": _wrk_ms(latency["99"]),
            "errors": errors, "matched": "-",
            "server_cpu_ms_per_request": cpu / max(1, requests) * 1000}


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


def prepare_bank(url_path: Path, count: int, rng: random.Random,
                 scratch: Path) -> tuple[list[int], str, float | None]:
    """(banked hashes, a node token, import seconds or None when an earlier run's database
    with the same bank was reused)."""
    source = scratch / "bank.txt"
    hashes = write_bank_file(source, count, rng)
    marker = url_path.with_suffix(".json")
    if url_path.exists() and marker.exists():
        known = json.loads(marker.read_text())
        if known["entries"] == count:
            return hashes, known["token"], None
    url_path.unlink(missing_ok=True)
    url = f"sqlite:///{url_path}"
    with Store(url) as store:
        banks = Banks(store)
        banks.create("bench")
        start = time.perf_counter()
        banks.import_file("bench", source)
        seconds = time.perf_counter() - start
        _, token = Node(store).create_token("bench")
    marker.write_text(json.dumps({"entries": count, "token": token}))
    return hashes, token, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--clients", type=int, default=16,
                        help="Concurrent clients per load process.")
    parser.add_argument("--load-processes", type=int, default=1)
    parser.add_argument("--load", choices=("httpx", "wrk"), default="httpx",
                        help="Load generator for the by-hash rounds (wrk: Debian's wrk).")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", default="1,2",
                        help="Node process counts to measure, comma-separated.")
    parser.add_argument("--uploads", type=int, default=60)
    parser.add_argument("--upload-clients", type=int, default=2)
    parser.add_argument("--keep-db", type=Path, metavar="PATH",
                        help="Keep the node database here and reuse it in later runs.")
    args = parser.parse_args()
    if args.load == "wrk" and shutil.which("wrk") is None:
        parser.error("--load wrk needs wrk on the PATH (apt-get install wrk)")
    workers = [int(w) for w in args.workers.split(",")]
    rng = random.Random(20240601)
    results: dict[str, Any] = {"load_before": load_average(), "entries": args.entries,
                               "clients": args.clients, "load_processes": args.load_processes,
                               "load_tool": args.load,
                               "runs": []}
    with tempfile.TemporaryDirectory(prefix="cordon-nodebench-") as scratch:
        db_path = args.keep_db or Path(scratch) / "node.db"
        hashes, token, import_s = prepare_bank(db_path, args.entries, rng, Path(scratch))
        results["import_s"] = import_s
        print(f"imported {args.entries:,} entries in {import_s:.1f} s" if import_s is not None
              else f"reused the {args.entries:,}-entry bank in {db_path}")
        queries = [near(rng.choice(hashes), rng) if i % 10 == 0
                   else f"{rng.getrandbits(256):064x}" for i in range(5000)]
        images = [jpeg_1mp(i) for i in range(args.uploads)]
        results["jpeg_kb"] = sum(map(len, images)) / len(images) / 1024
        for count in workers:
            run: dict[str, Any] = {"workers": count, "load_before": load_average()}
            server = Server(f"node-w{count}", ["node", "serve", "--no-hub", "--db",
                                               f"sqlite:///{db_path}", "--workers", str(count)])
            try:
                run["ready_s"] = server.start()
                assert server.process is not None
                print(f"{count} process(es): ready (index loaded) in {run['ready_s']:.1f} s")
                asyncio.run(hash_load(server.base, token, queries[:200], args.clients, 2))
                if args.load == "wrk":
                    rounds = [wrk_round(server.base, token, queries, args.clients, args.seconds,
                                        server.process.pid, Path(scratch))
                              for _ in range(args.rounds)]
                else:
                    rounds = [hash_rounds(server.base, token, queries, args.clients,
                                          args.seconds, args.load_processes, server.process.pid)
                              for _ in range(args.rounds)]
                rounds.sort(key=lambda r: r["rps"])
                run["by_hash_rounds"] = rounds
                run["by_hash"] = rounds[len(rounds) // 2]
                upload = asyncio.run(upload_load(server.base, token, images,
                                                 args.upload_clients))
                run["by_upload"] = {k: v for k, v in upload.items() if k != "latencies"}
            finally:
                server.stop()
            run["load_after"] = load_average()
            results["runs"].append(run)
    results["load_after"] = load_average()
    rows = []
    for run in results["runs"]:
        h, u = run["by_hash"], run["by_upload"]
        cpu = h["server_cpu_ms_per_request"]
        clients = args.clients * (1 if args.load == "wrk" else args.load_processes)
        rows.append([run["workers"], f"by hash, {args.load} (median of {args.rounds} x "
                     f"{args.seconds:g} s)", clients, h["requests"], h["rps"], h["p50_ms"],
                     h["p99_ms"], h["errors"], cpu, 2000 / cpu if cpu else 0])
        rows.append([run["workers"], f"by upload (1 MP JPEG, {results['jpeg_kb']:.0f} KB)",
                     args.upload_clients, u["requests"], u["rps"], u["p50_ms"], u["p99_ms"],
                     u["errors"], "-", "-"])
    print_table(
        f"node /v1/match, {args.entries:,}-entry PDQ bank (load {results['load_before']} -> "
        f"{results['load_after']})",
        ["processes", "mode", "clients", "requests", "req/s", "p50 ms", "p99 ms", "errors",
         "node CPU ms/req", "req/s per 2 CPU s"], rows)
    for run in results["runs"]:
        for r in run["by_hash_rounds"]:
            r.pop("latencies", None)
        print(f"{run['workers']} process(es): ready {run['ready_s']:.1f} s, matched by hash "
              f"{run['by_hash']['matched']} of {run['by_hash']['requests']}, load "
              f"{run['load_before']} -> {run['load_after']}")
    print(f"results: {write_json('node', results)}")


if __name__ == "__main__":
    main()
