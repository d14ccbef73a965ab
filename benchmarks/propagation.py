"""From a contribution at the hub to a match at the nodes: propagation latency and catch-up.

    .venv/bin/python benchmarks/propagation.py [--nodes 10] [--contributions 300]
        [--outage-entries 100000] [--hub-db URL]

A real hub (`cordon hub serve`) and `--nodes` real nodes (`cordon node serve`, each its own
member of the hub, its own token and its own SQLite database) run as subprocesses on loopback
ports; the hub uses a scratch SQLite database unless `--hub-db` names another. Two measurements:

1. latency: `--contributions` single-entry contributions (random PDQ) one after the other;
   for each, the time from the hub's answer (the entry is committed) until each node's
   `POST /v1/match` by that hash returns it (every node polled concurrently, every 5 ms);
   p50/p95/max over all (contribution, node) pairs, and of the slowest node per contribution;
2. catch-up: one node is stopped, `--outage-entries` entries are contributed in batches of
   1,000 while it is down, then it is started again on the same database; the time from its
   start until it returns the last of them, split into start-up (index loaded, /readyz) and
   the rest (reading the feed from its cursor). The other nodes keep following meanwhile.

Every process shares the machine's 2 cores with this script (and whatever else runs): the
load average is recorded next to the figures.
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
from _servers import Server, load_average, tree_cpu_seconds

from cordon.hub.service import Hub
from cordon.node.service import Node
from cordon.store import Store

BANK = "tcap"


class Cluster:
    def __init__(self, scratch: Path, hub_db: str | None, nodes: int) -> None:
        self.scratch = scratch
        self.hub_url = hub_db or f"sqlite:///{scratch / 'hub.db'}"
        with Store(self.hub_url) as store:
            hub = Hub(store)
            self.writer = hub.add_member("alice", "contributor")[2]
            self.readers = [hub.add_member(f"node{i}", "reader")[2] for i in range(nodes)]
        self.hub = Server("hub", ["hub", "serve", "--db", self.hub_url, "--rate-limit", "0"])
        self.nodes: list[Server] = []
        self.node_tokens: list[str] = []
        for i, reader in enumerate(self.readers):
            url = f"sqlite:///{scratch / f'node{i}.db'}"
            with Store(url) as store:
                self.node_tokens.append(Node(store).create_token("bench")[1])
            self.nodes.append(Server(f"node{i}", ["node", "serve", "--db", url, "--hub",
                                                  "HUB", "--token", reader,
                                                  "--poll-interval", "1"]))

    def start(self) -> None:
        self.hub.start()
        for node in self.nodes:
            node.args[node.args.index("HUB")] = self.hub.base
        with httpx.Client(base_url=self.hub.base, timeout=30,
                          headers={"Authorization": f"Bearer {self.writer}"}) as http:
            response = http.post("/v1/banks", json={"name": BANK, "shared_with": ["*"]})
            assert response.status_code == 201, response.text
        for node in self.nodes:
            node.start()

    def stop(self) -> None:
        for server in [*self.nodes, self.hub]:
            server.stop()


def contribute(http: httpx.Client, pdqs: list[str]) -> list[int]:
    body = orjson.dumps({"entries": [{"signals": {"pdq": p}, "labels": []} for p in pdqs]})
    response = http.post(f"/v1/banks/{BANK}/entries", content=body,
                         headers={"Content-Type": "application/json"})
    if response.status_code not in (200, 201):
        raise RuntimeError(f"contribution refused: {response.status_code} {response.text}")
    return [int(i) for i in response.json()["ids"]]


async def until_matched(http: httpx.AsyncClient, base: str, token: str, pdq: str, entry: int,
                        start: float, timeout: float) -> float:
    body = orjson.dumps({"signals": {"pdq": pdq}})
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    while True:
        response = await http.post(f"{base}/v1/match", content=body, headers=headers)
        if response.status_code == 200 and any(
                m["entry"] == entry and m["origin"] == "hub"
                for m in response.json()["matches"]):
            return time.perf_counter() - start
        if time.perf_counter() - start > timeout:
            return float("inf")
        await asyncio.sleep(0.005)


async def latency(cluster: Cluster, count: int, rng: random.Random) -> dict[str, Any]:
    pairs: list[float] = []
    slowest: list[float] = []
    writer = httpx.Client(base_url=cluster.hub.base, timeout=30,
                          headers={"Authorization": f"Bearer {cluster.writer}"})
    async with httpx.AsyncClient(timeout=30) as http:
        for _ in range(count):
            pdq = f"{rng.getrandbits(256):064x}"
            entry = contribute(writer, [pdq])[0]
            start = time.perf_counter()
            delays = await asyncio.gather(*(
                until_matched(http, node.base, token, pdq, entry, start, 30)
                for node, token in zip(cluster.nodes, cluster.node_tokens, strict=True)))
            pairs.extend(delays)
            slowest.append(max(delays))
    writer.close()
    missed = sum(d == float("inf") for d in pairs)
    return {"contributions": count, "nodes": len(cluster.nodes), "missed": missed,
            "p50_ms": percentile(pairs, 50) * 1000, "p95_ms": percentile(pairs, 95) * 1000,
            "max_ms": max(pairs) * 1000,
            "slowest_node_p50_ms": percentile(slowest, 50) * 1000,
            "slowest_node_p95_ms": percentile(slowest, 95) * 1000}


def catch_up(cluster: Cluster, entries: int, rng: random.Random,
             timeout: float, outage_seconds: float) -> dict[str, Any]:
    node, token = cluster.nodes[0], cluster.node_tokens[0]
    node.stop()
    down = time.perf_counter()
    last: tuple[str, int] = ("", 0)
    with httpx.Client(base_url=cluster.hub.base, timeout=120,
                      headers={"Authorization": f"Bearer {cluster.writer}"}) as http:
        for start in range(0, entries, 1000):
            pdqs = [f"{rng.getrandbits(256):064x}" for _ in range(min(1000, entries - start))]
            last = (pdqs[-1], contribute(http, pdqs)[-1])
    # The scenario is an outage of a minute: stay down that long even when the
    # contributions were quicker, so the restart also sees a stream that went quiet.
    time.sleep(max(0.0, outage_seconds - (time.perf_counter() - down)))
    outage = time.perf_counter() - down
    start = time.perf_counter()
    ready = node.start()
    assert node.process is not None
    cpu_ready = tree_cpu_seconds(node.process.pid)

    async def wait() -> float:
        async with httpx.AsyncClient(timeout=30) as http:
            return await until_matched(http, node.base, token, last[0], last[1], start,
                                       timeout)

    total = asyncio.run(wait())  # inf: not caught up within the timeout
    cpu_done = tree_cpu_seconds(node.process.pid)
    # CPU time of the node's process: what the catch-up costs, whatever else the machine runs.
    return {"entries": entries, "outage_s": outage, "ready_s": ready, "caught_up_s": total,
            "feed_s": total - ready, "startup_cpu_s": cpu_ready,
            "feed_cpu_s": cpu_done - cpu_ready}


def print_latency(results: dict[str, Any], nodes: int) -> None:
    lat = results["latency"]
    print_table(f"contribution -> match at {nodes} nodes (load {results['load_before']}"
                f" -> {results['load_mid']})",
                ["contributions", "p50 ms", "p95 ms", "max ms", "slowest node p95 ms", "missed"],
                [[lat["contributions"], lat["p50_ms"], lat["p95_ms"], lat["max_ms"],
                  lat["slowest_node_p95_ms"], lat["missed"]]])
    sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, default=10)
    parser.add_argument("--contributions", type=int, default=300)
    parser.add_argument("--outage-entries", type=int, default=100_000)
    parser.add_argument("--outage-seconds", type=float, default=60,
                        help="Keep the node down at least this long (default 60).")
    parser.add_argument("--hub-db", metavar="URL")
    parser.add_argument("--catch-up-timeout", type=float, default=300,
                        help="Give up waiting for the restarted node after this many seconds.")
    args = parser.parse_args()
    rng = random.Random(7)
    results: dict[str, Any] = {"load_before": load_average()}
    with tempfile.TemporaryDirectory(prefix="cordon-propagation-") as scratch:
        cluster = Cluster(Path(scratch), args.hub_db, args.nodes)
        try:
            cluster.start()
            asyncio.run(latency(cluster, 5, rng))  # warm up: every follower on its stream
            results["latency"] = asyncio.run(latency(cluster, args.contributions, rng))
            results["load_mid"] = load_average()
            print_latency(results, args.nodes)
            if args.outage_entries:
                results["catch_up"] = catch_up(cluster, args.outage_entries, rng,
                                               args.catch_up_timeout, args.outage_seconds)
        finally:
            cluster.stop()
    results["load_after"] = load_average()
    if "catch_up" in results:
        c = results["catch_up"]
        print_table(f"catch-up after an outage (load -> {results['load_after']})",
                    ["entries", "outage s", "ready s", "feed s", "caught up s",
                     "node CPU s: start-up", "node CPU s: feed"],
                    [[c["entries"], c["outage_s"], c["ready_s"], c["feed_s"],
                      c["caught_up_s"], c["startup_cpu_s"], c["feed_cpu_s"]]])
    print(f"results: {write_json('propagation', results)}")


if __name__ == "__main__":
    main()
