"""An incident with 10 nodes: declaration to every node, and incident hashes overtaking a
backlog of ordinary entries.

    .venv/bin/python benchmarks/incident.py [--nodes 10] [--backlog 100000]
        [--hashes 1000] [--burst 100] [--declarations 5] [--hub-db URL]

A real hub (`cordon hub serve`) and `--nodes` real nodes (`cordon node serve`, each its own
member, token and SQLite database) run as subprocesses on loopback ports. Then:

1. backlog: `--backlog` ordinary entries are written into the hub's store before the nodes
   start, so that every node starts with all of them to read in cursor order;
2. declaration: as soon as every node answers, `--declarations` incidents are declared one
   after the other; for each, the time from the hub's answer until each node's
   `GET /v1/incidents/{id}` knows it (every node polled concurrently, every 5 ms);
3. incident hashes: `--hashes` entries (random PDQ) are contributed for the last incident in
   bursts of `--burst`; for each burst, the time from the hub's answer until each node matches
   the burst's last hash (priority events arrive in order, so the burst's earlier hashes are
   there too: checked at the end, every hash at every node); next to it, how many entries
   the slowest node had still to read at that moment.

Every process shares the machine's 2 cores with this script and whatever else runs: the load
average is recorded next to the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
from _common import percentile, print_table, write_json
from _servers import Server, load_average

from cordon.hub.service import EntryInput, Hub
from cordon.node.service import Node
from cordon.store import Store

BANK = "crisis"


class Cluster:
    def __init__(self, scratch: Path, hub_db: str | None, nodes: int) -> None:
        self.hub_url = hub_db or f"sqlite:///{scratch / 'hub.db'}"
        with Store(self.hub_url) as store:
            hub = Hub(store)
            self.admin = hub.add_member("admin", "admin")[2]
            self.writer = hub.add_member("alice", "contributor")[2]
            members = [hub.add_member(f"node{i}", "reader")[2] for i in range(nodes)]
        self.hub = Server("incident-hub", ["hub", "serve", "--db", self.hub_url,
                                           "--rate-limit", "0"])
        self.nodes: list[Server] = []
        self.node_tokens: list[str] = []
        for i, member in enumerate(members):
            url = f"sqlite:///{scratch / f'node{i}.db'}"
            with Store(url) as store:
                self.node_tokens.append(Node(store).create_token("bench")[1])
            self.nodes.append(Server(f"incident-node{i}", [
                "node", "serve", "--db", url, "--hub", "HUB", "--token", member,
                "--poll-interval", "1"]))

    def start_hub(self) -> None:
        self.hub.start()
        for node in self.nodes:
            node.args[node.args.index("HUB")] = self.hub.base
        with self.client(self.admin) as http:
            response = http.post("/v1/banks", json={"name": BANK, "shared_with": ["*"]})
            assert response.status_code == 201, response.text

    def start_nodes(self) -> None:
        for node in self.nodes:
            node.start()

    def client(self, token: str) -> httpx.Client:
        return httpx.Client(base_url=self.hub.base, timeout=120,
                            headers={"Authorization": f"Bearer {token}"})

    def stop(self) -> None:
        for server in [*self.nodes, self.hub]:
            server.stop()


def contribute(http: httpx.Client, pdqs: list[str], incident: int | None = None) -> list[int]:
    entries: list[dict[str, Any]] = [{"signals": {"pdq": p}} for p in pdqs]
    if incident is not None:
        for entry in entries:
            entry["incident"] = incident
    response = http.post(f"/v1/banks/{BANK}/entries", content=orjson.dumps(
        {"entries": entries}), headers={"Content-Type": "application/json"})
    if response.status_code != 200:
        raise RuntimeError(f"contribution refused: {response.status_code} {response.text}")
    return [int(i) for i in response.json()["ids"]]


def preload(cluster: Cluster, total: int, rng: random.Random) -> float:
    """Write the backlog of ordinary entries straight into the hub's store (the running hub
    serves them like any other): seconds taken."""
    start = time.perf_counter()
    with Store(cluster.hub_url) as store:
        hub = Hub(store)
        member = hub.authenticate(cluster.writer)
        assert member is not None
        for done in range(0, total, 10_000):
            count = min(10_000, total - done)
            hub.contribute(member, BANK, [EntryInput({"pdq": f"{rng.getrandbits(256):064x}"},
                                                     []) for _ in range(count)], "benchmark")
    return time.perf_counter() - start


async def poll(http: httpx.AsyncClient, check: Any, start: float, timeout: float) -> float:
    while True:
        if await check(http):
            return time.perf_counter() - start
        if time.perf_counter() - start > timeout:
            return float("inf")
        await asyncio.sleep(0.005)


def knows(base: str, token: str, incident: int) -> Any:
    headers = {"Authorization": f"Bearer {token}"}

    async def check(http: httpx.AsyncClient) -> bool:
        response = await http.get(f"{base}/v1/incidents/{incident}", headers=headers)
        return response.status_code == 200
    return check


def matches(base: str, token: str, pdq: str, entry: int) -> Any:
    body = orjson.dumps({"signals": {"pdq": pdq}})
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    async def check(http: httpx.AsyncClient) -> bool:
        response = await http.post(f"{base}/v1/match", content=body, headers=headers)
        return response.status_code == 200 and any(
            m["entry"] == entry for m in response.json()["matches"])
    return check


async def mirrored(cluster: Cluster, http: httpx.AsyncClient) -> list[int]:
    async def one(base: str, token: str) -> int:
        response = await http.get(f"{base}/v1/status",
                                  headers={"Authorization": f"Bearer {token}"})
        return int(response.json()["mirrored_entries"])
    return list(await asyncio.gather(*(one(n.base, t) for n, t in zip(
        cluster.nodes, cluster.node_tokens, strict=True))))


async def declarations(cluster: Cluster, count: int) -> tuple[list[float], list[int]]:
    delays: list[float] = []
    ids: list[int] = []
    admin = cluster.client(cluster.admin)
    async with httpx.AsyncClient(timeout=30) as http:
        for i in range(count):
            response = admin.post("/v1/incidents", json={
                "level": "pci", "title": f"Benchmark incident {i}", "bank": BANK})
            assert response.status_code == 201, response.text
            start = time.perf_counter()
            incident = response.json()["id"]
            ids.append(incident)
            delays.extend(await asyncio.gather(*(
                poll(http, knows(n.base, t, incident), start, 30)
                for n, t in zip(cluster.nodes, cluster.node_tokens, strict=True))))
            if i < count - 1:
                admin.patch(f"/v1/incidents/{incident}", json={"status": "concluded"})
    admin.close()
    return delays, ids


async def incident_hashes(cluster: Cluster, incident: int, total: int, burst: int,
                          rng: random.Random, hub_total: int) -> dict[str, Any]:
    delays: list[float] = []
    slowest: list[float] = []
    behind: list[int] = []
    shared: list[tuple[str, int]] = []
    writer = cluster.client(cluster.writer)
    async with httpx.AsyncClient(timeout=30) as http:
        for _ in range(0, total, burst):
            pdqs = [f"{rng.getrandbits(256):064x}" for _ in range(burst)]
            ids = contribute(writer, pdqs, incident)
            start = time.perf_counter()
            shared.extend(zip(pdqs, ids, strict=True))
            sent = hub_total + len(shared)
            burst_delays = await asyncio.gather(*(
                poll(http, matches(n.base, t, pdqs[-1], ids[-1]), start, 60)
                for n, t in zip(cluster.nodes, cluster.node_tokens, strict=True)))
            behind.append(sent - min(await mirrored(cluster, http)))
            delays.extend(burst_delays)
            slowest.append(max(burst_delays))
            await asyncio.sleep(0.2)
    writer.close()
    return {"hashes": len(shared), "burst": burst, "delays": delays, "slowest": slowest,
            "backlog_behind": behind, "shared": shared}


async def count_missing(cluster: Cluster, shared: list[tuple[str, int]]) -> int:
    """Incident hashes that some node does not match (every hash at every node), asked 50
    at a time so that a loaded machine answers within the client's timeouts."""
    missing = 0
    async with httpx.AsyncClient(timeout=120) as http:
        for node, token in zip(cluster.nodes, cluster.node_tokens, strict=True):
            for start in range(0, len(shared), 50):
                found = await asyncio.gather(*(matches(node.base, token, p, e)(http)
                                               for p, e in shared[start:start + 50]))
                missing += found.count(False)
    return missing




def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, default=10)
    parser.add_argument("--backlog", type=int, default=100_000)
    parser.add_argument("--hashes", type=int, default=1000)
    parser.add_argument("--burst", type=int, default=100)
    parser.add_argument("--declarations", type=int, default=5)
    parser.add_argument("--hub-db", metavar="URL")
    args = parser.parse_args()
    rng = random.Random(11)
    results: dict[str, Any] = {"nodes": args.nodes, "backlog": args.backlog,
                               "load_before": load_average()}
    with tempfile.TemporaryDirectory(prefix="cordon-incident-") as scratch:
        cluster = Cluster(Path(scratch), args.hub_db, args.nodes)
        try:
            cluster.start_hub()
            results["preload_seconds"] = preload(cluster, args.backlog, rng)
            # Every node starts with the whole backlog to read, by cursor.
            cluster.start_nodes()
            delays, ids = asyncio.run(declarations(cluster, args.declarations))
            results["declaration"] = dec = {
                "samples": len(delays), "missed": sum(d == float("inf") for d in delays),
                "p50_ms": percentile(delays, 50) * 1000, "p95_ms": percentile(delays, 95) * 1000,
                "max_ms": max(delays) * 1000}
            print_table(f"declaration -> {args.nodes} nodes (load {results['load_before']} "
                        f"-> {load_average()})",
                        ["samples", "p50 ms", "p95 ms", "max ms", "missed"],
                        [[dec["samples"], dec["p50_ms"], dec["p95_ms"], dec["max_ms"],
                          dec["missed"]]])
            sys.stdout.flush()
            hashes = asyncio.run(incident_hashes(cluster, ids[-1], args.hashes, args.burst,
                                                 rng, args.backlog))
            d = hashes.pop("delays")
            s = hashes.pop("slowest")
            shared = hashes.pop("shared")
            results["incident_hashes"] = h = {
                **hashes, "p50_ms": percentile(d, 50) * 1000,
                "p95_ms": percentile(d, 95) * 1000, "max_ms": max(d) * 1000,
                "slowest_node_p95_ms": percentile(s, 95) * 1000,
                "within_2s": sum(x <= 2.0 for x in d) / len(d)}
            results["load_mid"] = load_average()
            print_table(f"{h['hashes']} incident hashes in bursts of {h['burst']} -> "
                        f"matchable at {args.nodes} nodes, behind a backlog of "
                        f"{args.backlog:,} (load -> {results['load_mid']})",
                        ["p50 ms", "p95 ms", "max ms", "slowest node p95 ms", "within 2 s",
                         "min backlog behind", "max backlog behind"],
                        [[h["p50_ms"], h["p95_ms"], h["max_ms"], h["slowest_node_p95_ms"],
                          h["within_2s"], min(h["backlog_behind"]),
                          max(h["backlog_behind"])]])
            sys.stdout.flush()
            write_json("incident", results)
            h["missing"] = asyncio.run(count_missing(cluster, shared))
            print(f"incident hashes not matched at some node: {h['missing']}")
        finally:
            cluster.stop()
    results["load_after"] = load_average()
    print(f"results: {write_json('incident', results)}")


if __name__ == "__main__":
    main()
