"""The hub under load, on PostgreSQL: ingest, feed, push latency and many concurrent clients.

    .venv/bin/python benchmarks/hub.py \
        --postgres postgresql+psycopg://postgres@127.0.0.1:5432/postgres

The hub runs as a real server (`cordon hub serve`, uvicorn, `--workers` processes, default
one) in a subprocess on a loopback port, on a scratch database created for the run and
dropped afterwards; load is generated from this process over loopback with httpx. Four
measurements, each bounded in count and time:

1. ingest: `POST /v1/banks/{bank}/entries` with `--batch` PDQ+MD5 entries per request from
   `--writers` concurrent clients (bodies encoded before the clock starts), `--rounds`
   rounds of `--ingest` new entries; entries per second of each round, median reported;
2. feed: one follower reads the whole feed, `limit=10000`, cursor to cursor; entries per
   second of each of `--rounds` reads, median reported;
3. push: `--followers` followers on `GET /v1/stream` (each its own member and token), then
   `--contributions` single-entry contributions one after the other; for each, the time from
   its answer (the commit is done by then; and, as an upper bound, from sending it) until
   the last follower received it;
4. mixed: `--clients` concurrent clients for `--mixed-seconds`, each looping without pause:
   one in five is a writer that sends a 10-entry contribution half of the time; otherwise
   5% feedback, 50% feed pages (100 entries, cursor kept), 35% entry reads, 10% bank
   lists; errors (any failed request or status >= 400) and latency percentiles.

The machine has 2 cores shared by the hub, PostgreSQL and this load generator (and whatever
else runs): the load average before and after is recorded next to the figures. Ingest and
feed also report the CPU time per 10,000 entries of the hub's processes, of the scratch
database's PostgreSQL backends and (feed) of this follower, read from /proc: on a busy
machine those compare two versions where the rates cannot.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
from _common import fmt, percentile, print_table, write_json
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from cordon.hub import cursor as cursors
from cordon.hub.service import Hub
from cordon.store import Store
from cordon.store import hub_repository as hub_repo

BANK = "bench"
LABELS = ["behaviour:glorification"]


# --- data ------------------------------------------------------------------------------------
def random_entries(rng: random.Random, count: int) -> list[dict[str, Any]]:
    return [{"signals": {"pdq": f"{rng.getrandbits(256):064x}",
                         "md5": f"{rng.getrandbits(128):032x}"},
             "labels": LABELS, "content_type": "image"} for _ in range(count)]


def body(entries: list[dict[str, Any]]) -> bytes:
    return orjson.dumps({"entries": entries})


# --- the hub in a subprocess -----------------------------------------------------------------
@contextmanager
def scratch_database(server: str) -> Iterator[str]:
    name = f"cordon_hubbench_{secrets.token_hex(4)}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def hub_server(url: str, workers: int) -> Iterator[tuple[str, int]]:
    port = free_port()
    command = [sys.executable, "-m", "cordon", "hub", "serve", "--db", url, "--port", str(port),
               "--rate-limit", "0", "--workers", str(workers)]
    log = open(Path(os.environ.get("TMPDIR", "/tmp")) / f"cordon-hubbench-{port}.log", "w")  # noqa: SIM115
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the hub exited with {process.returncode}; see {log.name}")
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the hub did not become ready within 60 s")
            time.sleep(0.1)
        yield base, process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@dataclass
class Members:
    writers: list[str] = field(default_factory=list)
    readers: list[str] = field(default_factory=list)
    admin: str = ""


def add_members(url: str, writers: int, readers: int) -> Members:
    members = Members()
    with Store(url) as store:
        hub = Hub(store)
        members.admin = hub.add_member("admin", "admin")[2]
        members.writers = [hub.add_member(f"writer-{i}", "contributor")[2] for i in range(writers)]
        members.readers = [hub.add_member(f"reader-{i}", "reader")[2] for i in range(readers)]
    return members


def head_cursor(url: str) -> str:
    with Store(url) as store, store.read() as connection:
        return cursors.encode(hub_repo.committed_seq(connection))


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


# --- CPU time ------------------------------------------------------------------------------
class CpuMeter:
    """CPU seconds (user + system) used so far by the hub's processes and by the scratch
    database's PostgreSQL backends, read from /proc (Linux, PostgreSQL on this machine;
    otherwise None). Unlike rates, CPU per entry barely moves with the load of the
    machine's other work, so it is what compares two versions on a shared machine."""

    def __init__(self, hub_pid: int, database: str) -> None:
        self.hub_pid = hub_pid
        self.backend = f" {database} ".encode()
        self.tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

    def _cpu(self, pid: int | str) -> float:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            return 0.0
        return (int(fields[11]) + int(fields[12])) / self.tick

    def _tree(self, pid: int) -> list[int]:
        pids, todo = [], [pid]
        while todo:
            current = todo.pop()
            pids.append(current)
            for task in Path(f"/proc/{current}/task").glob("*/children"):
                with suppress(OSError):
                    todo.extend(int(child) for child in task.read_text().split())
        return pids

    def sample(self) -> tuple[float, float] | None:
        if not Path(f"/proc/{self.hub_pid}/stat").exists():
            return None
        hub = sum(self._cpu(pid) for pid in self._tree(self.hub_pid))
        database = 0.0
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                text = cmdline.read_bytes()
            except OSError:
                continue
            if text.startswith(b"postgres:") and self.backend in text:
                database += self._cpu(cmdline.parent.name)
        return hub, database


def cpu_ms_per_10k(meter: CpuMeter, before: tuple[float, float] | None,
                   entries: int) -> dict[str, float] | None:
    """CPU ms per 10,000 entries of the hub and of the database since `before`."""
    after = meter.sample()
    if before is None or after is None or not entries:
        return None
    per = 10_000 / entries * 1000
    return {"hub": (after[0] - before[0]) * per, "database": (after[1] - before[1]) * per}


# --- 1. ingest -------------------------------------------------------------------------------
def ingest_round(base: str, tokens: list[str], bodies: list[bytes]) -> tuple[float, list[float]]:
    """Seconds for all bodies over len(tokens) concurrent clients, and each request's."""
    queue = list(enumerate(bodies))
    lock = threading.Lock()
    latencies: list[float] = []
    failures: list[str] = []

    def client(token: str) -> None:
        with httpx.Client(base_url=base, headers=auth(token), timeout=120) as http:
            while True:
                with lock:
                    if not queue:
                        return
                    _, payload = queue.pop()
                start = time.perf_counter()
                response = http.post(f"/v1/banks/{BANK}/entries", content=payload)
                latencies.append(time.perf_counter() - start)
                if response.status_code != 200:
                    failures.append(f"{response.status_code} {response.text[:200]}")

    threads = [threading.Thread(target=client, args=(t,)) for t in tokens]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    if failures:
        raise RuntimeError(f"ingest failed: {failures[0]}")
    return elapsed, latencies


# --- 2. feed ---------------------------------------------------------------------------------
def read_feed(base: str, token: str) -> tuple[float, int]:
    count = 0
    cursor: str | None = None
    with httpx.Client(base_url=base, headers=auth(token), timeout=120) as http:
        start = time.perf_counter()
        while True:
            params: dict[str, Any] = {"limit": 10_000}
            if cursor:
                params["cursor"] = cursor
            response = http.get("/v1/feed", params=params)
            response.raise_for_status()
            page = orjson.loads(response.content)
            count += len(page["entries"])
            cursor = page["cursor"]
            if not page["more"]:
                break
        return time.perf_counter() - start, count


# --- 3. push latency -------------------------------------------------------------------------
async def push_latency(base: str, readers: list[str], writer: str, cursor: str,
                       contributions: int, budget: float) -> dict[str, Any]:
    arrivals: dict[int, list[float]] = {}
    wanted: dict[int, asyncio.Event] = {}
    connected = 0
    all_connected = asyncio.Event()
    n = len(readers)

    async def follow(token: str) -> None:
        nonlocal connected
        headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
        async with (
            httpx.AsyncClient(base_url=base, headers=headers, timeout=None) as http,
            http.stream("GET", "/v1/stream", params={"cursor": cursor}) as response,
        ):
            response.raise_for_status()
            connected += 1
            if connected == n:
                all_connected.set()
            async for line in response.aiter_lines():
                if not line.startswith("data:"):
                    continue
                now = time.perf_counter()
                entry_id = orjson.loads(line[5:])["id"]
                times = arrivals.setdefault(entry_id, [])
                times.append(now)
                if len(times) == n and entry_id in wanted:
                    wanted[entry_id].set()

    tasks = [asyncio.create_task(follow(t)) for t in readers]
    await asyncio.wait_for(all_connected.wait(), 60)
    rng = random.Random(7)
    from_201: list[float] = []
    from_send: list[float] = []
    missed = 0
    deadline = time.perf_counter() + budget
    async with httpx.AsyncClient(base_url=base, headers=auth(writer), timeout=30) as http:
        for _ in range(contributions):
            if time.perf_counter() > deadline:
                break
            payload = body(random_entries(rng, 1))
            sent = time.perf_counter()
            response = await http.post(f"/v1/banks/{BANK}/entries", content=payload)
            answered = time.perf_counter()
            response.raise_for_status()
            entry_id = response.json()["ids"][0]
            event = wanted.setdefault(entry_id, asyncio.Event())
            if len(arrivals.get(entry_id, [])) < n:
                try:
                    await asyncio.wait_for(event.wait(), 10)
                except TimeoutError:
                    missed += 1
                    continue
            last = max(arrivals[entry_id])
            from_201.append(max(0.0, last - answered))
            from_send.append(last - sent)
            # A pause between contributions: each one's delivery is measured on its own.
            await asyncio.sleep(0.02)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {"followers": n, "contributions": len(from_201) + missed, "missed": missed,
            "from_201_ms": _ms(from_201), "from_send_ms": _ms(from_send)}


def _ms(samples: list[float]) -> dict[str, float]:
    return {"p50": percentile(samples, 50) * 1000, "p95": percentile(samples, 95) * 1000,
            "p99": percentile(samples, 99) * 1000, "max": max(samples, default=0) * 1000}


# --- 4. many clients -------------------------------------------------------------------------
async def mixed_load(base: str, members: Members, clients: int, seconds: float,
                     entry_ids: list[int]) -> dict[str, Any]:
    latencies: dict[str, list[float]] = {}
    errors: dict[str, int] = {}
    failures: list[str] = []
    requests = 0
    stop_at = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async def one_client(index: int, http: httpx.AsyncClient) -> None:
        nonlocal requests
        rng = random.Random(index)
        writer = index % 5 == 0
        token = (members.writers[index % len(members.writers)] if writer
                 else members.readers[index % len(members.readers)])
        headers = auth(token)
        cursor: str | None = None
        while time.perf_counter() < stop_at:
            # Writers contribute half of the time; everything else is the readers' mix:
            # 5% feedback, 50% feed pages, 35% entry reads, 10% bank lists.
            roll = rng.random()
            if writer and rng.random() < 0.5:
                kind = "contribute"
                call = http.post(f"/v1/banks/{BANK}/entries", headers=headers,
                                 content=body(random_entries(rng, 10)))
            elif roll < 0.05:
                kind = "feedback"
                call = http.post(f"/v1/entries/{rng.choice(entry_ids)}/feedback", headers=headers,
                                 content=orjson.dumps({"verdict": "confirm"}))
            elif roll < 0.55:
                kind = "feed"
                params: dict[str, Any] = {"limit": 100}
                if cursor:
                    params["cursor"] = cursor
                call = http.get("/v1/feed", headers=headers, params=params)
            elif roll < 0.9:
                kind = "entry"
                call = http.get(f"/v1/entries/{rng.choice(entry_ids)}", headers=headers)
            else:
                kind = "banks"
                call = http.get("/v1/banks", headers=headers)
            start = time.perf_counter()
            try:
                response = await call
                ok = response.status_code < 400
                if ok and kind == "feed":
                    cursor = orjson.loads(response.content)["cursor"]
                elif not ok:
                    failures.append(f"{kind}: {response.status_code} {response.text[:200]}")
            except httpx.HTTPError as exc:
                ok = False
                failures.append(f"{kind}: {type(exc).__name__} {exc}"[:300])
            latencies.setdefault(kind, []).append(time.perf_counter() - start)
            requests += 1
            if not ok:
                errors[kind] = errors.get(kind, 0) + 1

    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as http:
        start = time.perf_counter()
        await asyncio.gather(*(one_client(i, http) for i in range(clients)))
        elapsed = time.perf_counter() - start
    every = [s for samples in latencies.values() for s in samples]
    return {
        "clients": clients, "seconds": elapsed, "requests": requests,
        "requests_per_s": requests / elapsed, "errors": sum(errors.values()),
        "errors_by_kind": errors, "failures": failures[:20], "latency_ms": _ms(every),
        "by_kind": {k: {"requests": len(v), **_ms(v)} for k, v in sorted(latencies.items())},
    }


def _cpu_text(cpu: dict[str, float] | None) -> str:
    if cpu is None:
        return ""
    return "; CPU ms per 10,000: " + ", ".join(f"{k} {v:.0f}" for k, v in cpu.items())


def _median_cpu(samples: list[dict[str, float] | None]) -> dict[str, float] | None:
    known = [s for s in samples if s is not None]
    if not known:
        return None
    return {key: statistics.median(s[key] for s in known) for key in known[0]}


def summary_rows(results: dict[str, Any]) -> list[list[Any]]:
    rows: list[list[Any]] = []
    ingest = results["ingest"]
    rows.append(["ingest (entries/s, median of rounds)", fmt(ingest["median_entries_per_s"], 0),
                 ">= 20,000", ingest["median_entries_per_s"] >= 20_000])
    if ingest.get("cpu_ms_per_10k"):
        rows.append(["ingest CPU ms per 10,000 (median)", _cpu_text(
            ingest["cpu_ms_per_10k"]).split(": ", 1)[1], "", ""])
    if "feed" in results:
        feed = results["feed"]
        rows.append(["feed read (entries/s, median)", fmt(feed["median_entries_per_s"], 0),
                     ">= 50,000", feed["median_entries_per_s"] >= 50_000])
        if feed.get("cpu_ms_per_10k"):
            rows.append(["feed CPU ms per 10,000 (median)", _cpu_text(
                feed["cpu_ms_per_10k"]).split(": ", 1)[1], "", ""])
    if "push" in results:
        push = results["push"]
        rows.append([f"push to {push['followers']} followers, p95 ms after the answer",
                     fmt(push["from_201_ms"]["p95"], 1), "<= 200",
                     push["from_201_ms"]["p95"] <= 200 and push["missed"] == 0])
        rows.append(["push p95 ms after sending (upper bound)",
                     fmt(push["from_send_ms"]["p95"], 1), "", ""])
    if "mixed" in results:
        mixed = results["mixed"]
        ms = mixed["latency_ms"]
        rows.append([f"{mixed['clients']} clients: errors / requests",
                     f"{mixed['errors']} / {mixed['requests']:,}", "0", mixed["errors"] == 0])
        rows.append([f"{mixed['clients']} clients: latency p50 / p95 / p99 ms",
                     f"{ms['p50']:.0f} / {ms['p95']:.0f} / {ms['p99']:.0f}", "", ""])
    return rows


# --- main ------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--postgres", default=os.environ.get(
        "CORDON_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--ingest", type=int, default=100_000, help="entries per ingest round")
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--writers", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--followers", type=int, default=50)
    parser.add_argument("--contributions", type=int, default=300)
    parser.add_argument("--push-seconds", type=float, default=180)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--mixed-seconds", type=float, default=30)
    parser.add_argument("--workers", type=int, default=1, help="hub worker processes")
    parser.add_argument("--name", default="hub")
    parser.add_argument("--only", default="ingest,feed,push,mixed",
                        help="the measurements to run, comma-separated (ingest always runs: "
                             "the others read what it wrote)")
    args = parser.parse_args()

    load_before = os.getloadavg()
    rng = random.Random(20240501)
    results: dict[str, Any] = {"settings": vars(args) | {"postgres": "(scratch database)"}}
    with scratch_database(args.postgres) as url:
        members = add_members(url, args.writers, max(args.followers, 20))
        with hub_server(url, args.workers) as (base, pid):
            meter = CpuMeter(pid, make_url(url).database or "")
            with httpx.Client(base_url=base, headers=auth(members.writers[0])) as http:
                response = http.post("/v1/banks", content=orjson.dumps(
                    {"name": BANK, "shared_with": ["*"]}))
                response.raise_for_status()

            rates, request_s, ingest_cpu = [], [], []
            for _ in range(args.rounds):
                bodies = [body(random_entries(rng, args.batch))
                          for _ in range(args.ingest // args.batch)]
                before = meter.sample()
                seconds, latencies = ingest_round(base, members.writers, bodies)
                rates.append(args.batch * len(bodies) / seconds)
                request_s.extend(latencies)
                cpu = cpu_ms_per_10k(meter, before, args.batch * len(bodies))
                ingest_cpu.append(cpu)
                print(f"ingest round: {rates[-1]:,.0f} entries/s{_cpu_text(cpu)}", flush=True)
            results["ingest"] = {"entries_per_round": args.ingest, "batch": args.batch,
                                 "writers": args.writers, "entries_per_s": rates,
                                 "median_entries_per_s": statistics.median(rates),
                                 "request_ms": _ms(request_s),
                                 "cpu_ms_per_10k": _median_cpu(ingest_cpu)}

            only = set(args.only.split(","))
            feed_rates, feed_cpu, total = [], [], 0
            for _ in range(args.rounds if "feed" in only else 0):
                before = meter.sample()
                client = time.process_time()
                seconds, total = read_feed(base, members.readers[0])
                client = (time.process_time() - client) * 1000 * 10_000 / max(total, 1)
                feed_rates.append(total / seconds)
                cpu = cpu_ms_per_10k(meter, before, total)
                if cpu is not None:
                    cpu["client"] = client
                feed_cpu.append(cpu)
                print(f"feed read: {feed_rates[-1]:,.0f} entries/s ({total:,}){_cpu_text(cpu)}",
                      flush=True)
            if feed_rates:
                results["feed"] = {"entries": total, "entries_per_s": feed_rates,
                                   "median_entries_per_s": statistics.median(feed_rates),
                                   "cpu_ms_per_10k": _median_cpu(feed_cpu)}
            if "push" in only:
                push = asyncio.run(push_latency(
                    base, members.readers[: args.followers], members.writers[0],
                    head_cursor(url), args.contributions, args.push_seconds))
                results["push"] = push
                print(f"push: p95 {push['from_201_ms']['p95']:.1f} ms after the answer",
                      flush=True)
            if "mixed" in only:
                with Store(url) as store, store.read() as connection:
                    ids = [row.id for row in
                           hub_repo.feed_rows(connection, 0, 10**12, 5000, None)]
                results["mixed"] = asyncio.run(
                    mixed_load(base, members, args.clients, args.mixed_seconds, ids))
    results["load_average"] = {"before": load_before, "after": os.getloadavg()}

    rows = summary_rows(results)
    for row in rows:
        row[3] = "" if row[3] == "" else ("yes" if row[3] else "NO")
    print_table(f"Hub on PostgreSQL ({args.workers} uvicorn worker process(es), loopback)",
                ["figure", "measured", "target", "holds"], rows)
    after = results["load_average"]["after"]
    print(f"load average (1 min) before {load_before[0]:.1f}, after {after[0]:.1f}")
    path = write_json(args.name, results)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
