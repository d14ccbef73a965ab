"""The node's match API under load: by hash against a large bank, and by image upload.

    .venv/bin/python benchmarks/node.py [--entries 1000000] [--seconds 20] [--clients 16]
        [--load httpx|wrk] [--rate 2000 [--rate-connections 64]] [--match-every 10]
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
   `{"signals": {"pdq": ...}}`; one query in ten (`--match-every`) is a banked hash at
   distance 4 (a match, which the node records in its match log), the rest random (no
   match). Each client sends its next request as soon as the last is answered (a closed
   loop: at saturation its latencies measure the queue as much as the node; `--clients 0`
   leaves these rounds out);
2. at a set rate (`--rate R`, wrk): the same queries sent at R requests a second, paced by a
   wrk script over `--rate-connections` connections: the k-th request is due k / R seconds
   after the start, whichever connection is free, so the latencies are those of a node
   receiving R requests a second (an open loop, as long as a connection is free when a
   request is due: requests sent late are counted); achieved rate, p50/p90/p99/p99.9/max;
3. by upload: `--uploads` 1-megapixel JPEGs (1152x864, generated) sent as multipart
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


# wrk cycles through the queries. With RATE set, the load is paced: the k-th request of the
# run is due at start + k / RATE, whichever connection is free to send it (an open loop, as
# long as a connection is free when a request is due: the requests sent late, and by how
# much, are counted); without it each connection sends again as soon as it has its answer (a
# closed loop). wrk's own clock is not visible to scripts; LuaJIT's ffi reads the monotonic
# clock. done() prints one line for the parser.
_WRK_SCRIPT = """
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } cordon_timespec;
int clock_gettime(int clk_id, cordon_timespec *tp);
]]
local clock = ffi.new("cordon_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, clock)
  return tonumber(clock.tv_sec) * 1000 + tonumber(clock.tv_nsec) / 1e6
end

local threads = {}
setup = function(thread) table.insert(threads, thread) end

interval = RATE and 1000 / RATE
due = nil
late = 0
late_max = 0
counter = 0

if RATE then
  delay = function()
    local now = now_ms()
    if due == nil then due = now end
    local wait = due - now
    due = due + interval
    if wait < -1 then
      late = late + 1
      if -wait > late_max then late_max = -wait end
    end
    if wait <= 0 then return 0 end
    return math.floor(wait)
  end
end

request = function()
  counter = counter + 1
  return wrk.format("POST", "/v1/match", nil, bodies[(counter %% #bodies) + 1])
end

done = function(summary, latency, requests)
  local late_total, late_worst = 0, 0
  for _, thread in ipairs(threads) do
    late_total = late_total + thread:get("late")
    late_worst = math.max(late_worst, thread:get("late_max"))
  end
  local e = summary.errors
  io.write(string.format(
    "CORDON requests=%d duration_us=%d errors=%d status_errors=%d p50_us=%d p90_us=%d " ..
    "p99_us=%d p999_us=%d max_us=%d late=%d late_max_ms=%.1f\\n",
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max, late_total, late_worst))
end
"""


def _wrk_bodies(queries: list[str]) -> str:
    bodies = ",\n".join(f'[[{{"signals": {{"pdq": "{q}"}}}}]]' for q in queries)
    return f"bodies = {{\n{bodies}\n}}\n"


def _wrk(base: str, token: str, queries: list[str], rate: float | None, connections: int,
         seconds: float, server_pid: int, scratch: Path) -> dict[str, Any]:
    """One wrk run (paced at `rate` requests a second, or a closed loop without one), with
    the CPU time the server's processes spent per request."""
    script = scratch / "match.lua"
    pace = f"RATE = {rate:g}\n" if rate else ""
    script.write_text(_wrk_bodies(queries) + pace + _WRK_SCRIPT.replace("%%", "%"))
    cpu_before = tree_cpu_seconds(server_pid)
    output = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "-s", str(script),
         "-H", f"Authorization: Bearer {token}", "-H", "Content-Type: application/json",
         base + "/"], capture_output=True, text=True, check=True).stdout
    cpu = tree_cpu_seconds(server_pid) - cpu_before
    line = re.search(r"^CORDON (.*)$", output, re.M)
    if line is None:
        raise RuntimeError(f"wrk printed no summary:\n{output}")
    got = {k: float(v) for k, v in re.findall(r"(\w+)=([\d.]+)", line.group(1))}
    requests = int(got["requests"])
    elapsed = got["duration_us"] / 1e6
    return {"requests": requests, "seconds": elapsed, "rps": requests / elapsed,
            "target_rps": rate, "p50_ms": got["p50_us"] / 1000, "p90_ms": got["p90_us"] / 1000,
            "p99_ms": got["p99_us"] / 1000, "p999_ms": got["p999_us"] / 1000,
            "max_ms": got["max_us"] / 1000,
            "errors": int(got["errors"] + got["status_errors"]), "matched": "-",
            "late": int(got["late"]), "late_max_ms": got["late_max_ms"],
            "server_cpu_ms_per_request": cpu / max(1, requests) * 1000}


def wrk_paced_round(base: str, token: str, queries: list[str], rate: float, connections: int,
                    seconds: float, server_pid: int, scratch: Path) -> dict[str, Any]:
    """`rate` requests a second from wrk over `connections` connections (see _WRK_SCRIPT)."""
    return _wrk(base, token, queries, rate, connections, seconds, server_pid, scratch)


def wrk_round(base: str, token: str, queries: list[str], connections: int, seconds: float,
              server_pid: int, scratch: Path) -> dict[str, Any]:
    """A closed loop of `connections` connections from wrk."""
    return _wrk(base, token, queries, None, connections, seconds, server_pid, scratch)


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


def _paced_rounds(server: Server, token: str, queries: list[str], rates: list[float],
                  args: argparse.Namespace, scratch: Path) -> list[dict[str, Any]]:
    """Every rate of `--rate`, `--rounds` times each; the median round (by p99) of each."""
    assert server.process is not None
    picked = []
    for rate in rates:
        rounds = [wrk_paced_round(server.base, token, queries, rate, args.rate_connections,
                                  args.seconds, server.process.pid, scratch)
                  for _ in range(args.rounds)]
        rounds.sort(key=lambda r: r["p99_ms"])
        picked.append({**rounds[len(rounds) // 2], "rounds": rounds})
    return picked


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--clients", type=int, default=16,
                        help="Concurrent clients per load process (0: no closed-loop rounds).")
    parser.add_argument("--load-processes", type=int, default=1)
    parser.add_argument("--load", choices=("httpx", "wrk"), default="httpx",
                        help="Load generator for the by-hash rounds (wrk: Debian's wrk).")
    parser.add_argument("--rate", default="",
                        help="Paced rounds (wrk) at these request rates, comma-separated.")
    parser.add_argument("--rate-connections", type=int, default=64,
                        help="Connections of the paced rounds (enough to keep the pace).")
    parser.add_argument("--match-every", type=int, default=10,
                        help="One query in this many is a banked hash at distance 4 (0: none).")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", default="1,2",
                        help="Node process counts to measure, comma-separated.")
    parser.add_argument("--uploads", type=int, default=60)
    parser.add_argument("--upload-clients", type=int, default=2)
    parser.add_argument("--keep-db", type=Path, metavar="PATH",
                        help="Keep the node database here and reuse it in later runs.")
    args = parser.parse_args()
    try:
        rates = [float(r) for r in args.rate.split(",") if r.strip()]
        workers = [int(w) for w in args.workers.split(",")]
    except ValueError:
        parser.error("--rate and --workers take comma-separated numbers")
    if any(r <= 0 for r in rates) or any(w <= 0 for w in workers):
        parser.error("rates and process counts must be positive")
    if args.clients < 0 or args.match_every < 0 or args.rate_connections <= 0:
        parser.error("--clients and --match-every cannot be negative, --rate-connections must "
                     "be positive")
    if (args.load == "wrk" or rates) and shutil.which("wrk") is None:
        parser.error("--load wrk and --rate need wrk on the PATH (apt-get install wrk)")
    rng = random.Random(20240601)
    results: dict[str, Any] = {"load_before": load_average(), "entries": args.entries,
                               "clients": args.clients, "load_processes": args.load_processes,
                               "load_tool": args.load, "rates": rates,
                               "rate_connections": args.rate_connections,
                               "match_every": args.match_every, "runs": []}
    with tempfile.TemporaryDirectory(prefix="cordon-nodebench-") as scratch:
        db_path = args.keep_db or Path(scratch) / "node.db"
        hashes, token, import_s = prepare_bank(db_path, args.entries, rng, Path(scratch))
        results["import_s"] = import_s
        print(f"imported {args.entries:,} entries in {import_s:.1f} s" if import_s is not None
              else f"reused the {args.entries:,}-entry bank in {db_path}")
        every = args.match_every
        queries = [near(rng.choice(hashes), rng) if every and i % every == 0
                   else f"{rng.getrandbits(256):064x}" for i in range(5000)]
        images = [jpeg_1mp(i) for i in range(args.uploads)]
        results["jpeg_kb"] = sum(map(len, images)) / len(images) / 1024 if images else 0
        for count in workers:
            run: dict[str, Any] = {"workers": count, "load_before": load_average()}
            server = Server(f"node-w{count}", ["node", "serve", "--no-hub", "--db",
                                               f"sqlite:///{db_path}", "--workers", str(count)])
            try:
                run["ready_s"] = server.start()
                assert server.process is not None
                print(f"{count} process(es): ready (index loaded) in {run['ready_s']:.1f} s")
                asyncio.run(hash_load(server.base, token, queries[:200], 16, 2))
                if args.clients and args.load == "wrk":
                    rounds = [wrk_round(server.base, token, queries, args.clients, args.seconds,
                                        server.process.pid, Path(scratch))
                              for _ in range(args.rounds)]
                elif args.clients:
                    rounds = [hash_rounds(server.base, token, queries, args.clients,
                                          args.seconds, args.load_processes, server.process.pid)
                              for _ in range(args.rounds)]
                else:
                    rounds = []
                rounds.sort(key=lambda r: r["rps"])
                run["by_hash_rounds"] = rounds
                run["by_hash"] = rounds[len(rounds) // 2] if rounds else None
                run["paced"] = _paced_rounds(server, token, queries, rates, args, Path(scratch))
                if images:
                    upload = asyncio.run(upload_load(server.base, token, images,
                                                     args.upload_clients))
                    run["by_upload"] = {k: v for k, v in upload.items() if k != "latencies"}
                else:
                    run["by_upload"] = None
            finally:
                server.stop()
            run["load_after"] = load_average()
            results["runs"].append(run)
    results["load_after"] = load_average()
    report(results, args)
    print(f"results: {write_json('node', results)}")


def report(results: dict[str, Any], args: argparse.Namespace) -> None:
    load = f"load {results['load_before']} -> {results['load_after']}"
    rows = []
    for run in results["runs"]:
        h, u = run["by_hash"], run["by_upload"]
        if h is not None:
            cpu = h["server_cpu_ms_per_request"]
            clients = args.clients * (1 if args.load == "wrk" else args.load_processes)
            rows.append([run["workers"], f"by hash, {args.load} (median of {args.rounds} x "
                         f"{args.seconds:g} s)", clients, h["requests"], h["rps"], h["p50_ms"],
                         h["p99_ms"], h["errors"], cpu, 2000 / cpu if cpu else 0])
        if u is not None:
            rows.append([run["workers"], f"by upload (1 MP JPEG, {results['jpeg_kb']:.0f} KB)",
                         args.upload_clients, u["requests"], u["rps"], u["p50_ms"],
                         u["p99_ms"], u["errors"], "-", "-"])
    if rows:
        print_table(
            f"node /v1/match, {results['entries']:,}-entry PDQ bank ({load})",
            ["processes", "mode", "clients", "requests", "req/s", "p50 ms", "p99 ms", "errors",
             "node CPU ms/req", "req/s per 2 CPU s"], rows)
    paced = [[run["workers"], r["target_rps"], args.rate_connections, r["requests"], r["rps"],
              r["p50_ms"], r["p90_ms"], r["p99_ms"], r["p999_ms"], r["max_ms"], r["errors"],
              r["late"], r["server_cpu_ms_per_request"]]
             for run in results["runs"] for r in run["paced"]]
    if paced:
        print_table(
            f"node /v1/match by hash at a set rate (wrk, paced; median of {args.rounds} x "
            f"{args.seconds:g} s by p99; one query in {args.match_every or 'no'} matches; "
            f"{load})",
            ["processes", "target req/s", "connections", "requests", "req/s", "p50 ms",
             "p90 ms", "p99 ms", "p99.9 ms", "max ms", "errors", "late sends",
             "node CPU ms/req"], paced)
    for run in results["runs"]:
        for r in run["by_hash_rounds"]:
            r.pop("latencies", None)
        matched = (f", matched by hash {run['by_hash']['matched']} of "
                   f"{run['by_hash']['requests']}" if run["by_hash"] else "")
        print(f"{run['workers']} process(es): ready {run['ready_s']:.1f} s{matched}, load "
              f"{run['load_before']} -> {run['load_after']}")


if __name__ == "__main__":
    main()
