"""The hub's bank page forms: how long adding entries from pasted hashes and importing a
hash list through the web UI take, end to end (form post, service, page).

    .venv/bin/python benchmarks/ui_bank_forms.py [--lines 1000 10000] [--repeats 5]

Starts `cordon hub serve` on a scratch SQLite file in a subprocess, logs in through the login
form with httpx (as a browser would) and, `--repeats` times for each size, posts fresh random
MD5s to "Add entries from hashes" (one contribution) and to "Import a hash list"
(`signal_type hash` lines, one import). The table gives the median and slowest answer and
the entries per second of the median.
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import tempfile
import time
from pathlib import Path

import httpx
from _common import print_table, write_json
from _servers import Server, load_average

from cordon.hub.service import Hub
from cordon.store import Store
from cordon.web.users import Users

PASSWORD = "benchmark password"
_CSRF = re.compile(r'name="csrf_token" value="([^"]*)"')


def prepare(url: str) -> None:
    with Store(url) as store:
        hub = Hub(store)
        alice, _, _ = hub.add_member("alice", "contributor")
        hub.create_bank(alice, "bench", "benchmark entries", ["*"], "bench")
        Users(store, "hub").add("cora", PASSWORD, member_id=alice.id)


def log_in(client: httpx.Client) -> str:
    token = _CSRF.search(client.get("/ui/login").text)
    assert token is not None
    response = client.post("/ui/login", data={"csrf_token": token.group(1),
                                              "username": "cora", "password": PASSWORD})
    assert response.status_code == 303, response.text
    page_token = _CSRF.search(client.get("/ui/banks/bench").text)
    assert page_token is not None
    return page_token.group(1)


def post(client: httpx.Client, path: str, data: dict[str, str]) -> float:
    start = time.perf_counter()
    response = client.post(path, data=data)
    seconds = time.perf_counter() - start
    assert response.status_code == 200, (path, response.status_code, response.text[:300])
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    def md5s(count: int) -> list[str]:
        return [f"{rng.getrandbits(128):032x}" for _ in range(count)]

    results: dict[str, list[float]] = {}
    sizes: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="cordon-uiforms-") as folder:
        url = f"sqlite:///{Path(folder) / 'hub.db'}"
        prepare(url)
        load_before = load_average()
        server = Server("ui-forms", ["hub", "serve", "--db", url, "--rate-limit", "0"])
        server.start()
        try:
            with httpx.Client(base_url=server.base, timeout=300) as client:
                token = log_in(client)
                for count in args.lines:
                    pasted, imported = f"paste {count:,} MD5s", f"import {count:,} lines"
                    sizes[pasted] = sizes[imported] = count
                    results[pasted] = [post(client, "/ui/banks/bench/signals", {
                        "csrf_token": token, "signal_type": "md5",
                        "label": "behaviour:attack-depiction",
                        "hashes": "\n".join(md5s(count))}) for _ in range(args.repeats)]
                    results[imported] = [post(client, "/ui/banks/bench/import", {
                        "csrf_token": token, "format": "lines",
                        "hashlist": "".join(f"md5 {h}\n" for h in md5s(count))})
                        for _ in range(args.repeats)]
        finally:
            server.stop()
        load_after = load_average()
    rows = [(name, statistics.median(t) * 1000, max(t) * 1000,
             sizes[name] / statistics.median(t)) for name, t in results.items()]
    print_table(f"hub bank page forms, SQLite, {args.repeats} posts each "
                f"(load {load_before} -> {load_after})",
                ["form", "median ms", "max ms", "entries/s"], rows)
    write_json("ui_bank_forms", {
        "repeats": args.repeats, "load_before": load_before, "load_after": load_after,
        "forms": {name: {"median_ms": round(median, 1), "max_ms": round(high, 1),
                         "entries_per_second": round(rate)}
                  for name, median, high, rate in rows}})


if __name__ == "__main__":
    main()
