"""The hub's web UI on a large hub: how long its pages take to answer.

    .venv/bin/python benchmarks/ui.py [--entries 100000] [--repeats 7]
    .venv/bin/python benchmarks/ui.py --postgres postgresql+psycopg://postgres@127.0.0.1:5432/postgres

Fills a scratch hub database (a SQLite file, or a database created on the given PostgreSQL
server and dropped afterwards) with `--entries` PDQ+MD5 entries contributed by two members
through the hub's own service, starts `cordon hub serve` on it in a subprocess, logs in
through the login form with httpx (as a browser would: form, CSRF cookie, session cookie)
and requests each page `--repeats` times; the table gives the median and the slowest
answer per page, and the login (whose cost is mostly the argon2 password check). The
slowest answer of the dashboard is its first, which computes the figures; later ones reuse
them until the hub changes. On PostgreSQL the database is analyzed after the fill.
"""

from __future__ import annotations

import argparse
import random
import re
import secrets
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from _common import print_table, write_json
from _servers import Server, load_average
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from cordon.hub.service import EntryInput, Hub
from cordon.store import Store
from cordon.web.users import Users

PASSWORD = "benchmark password"
LABELS = ["behaviour:glorification", "behaviour:attack-depiction", "entity:example-group"]
BATCH = 10_000
_CSRF = re.compile(r'name="csrf_token" value="([^"]*)"')


@contextmanager
def database(postgres: str | None, folder: Path) -> Iterator[str]:
    if not postgres:
        yield f"sqlite:///{folder / 'hub.db'}"
        return
    name = f"cordon_uibench_{secrets.token_hex(4)}"
    admin = create_engine(postgres, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(postgres).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def fill(url: str, count: int, seed: int) -> tuple[str, int]:
    """Members, a bank and `count` entries; returns an MD5 of one entry and its id."""
    rng = random.Random(seed)
    with Store(url) as store:
        hub = Hub(store)
        admin, _, _ = hub.add_member("admin", "admin")
        alice, _, _ = hub.add_member("alice", "contributor")
        bob, _, _ = hub.add_member("bob", "contributor")
        hub.create_bank(alice, "bench", "benchmark entries", ["*"], "bench")
        probe = ("", 0)
        for start in range(0, count, BATCH):
            items = []
            for i in range(start, min(count, start + BATCH)):
                items.append(EntryInput({"pdq": f"{rng.getrandbits(256):064x}",
                                         "md5": f"{rng.getrandbits(128):032x}"},
                                        [LABELS[i % 3]], "image", None, None))
            ids = hub.contribute(alice if start % (2 * BATCH) == 0 else bob, "bench", items,
                                 "bench")
            if start == 0:
                probe = (items[len(items) // 2].signals["md5"], ids[len(items) // 2])
        Users(store, "hub").add("ada", PASSWORD, member_id=admin.id)
        if store.dialect == "postgresql":
            # What autovacuum does within a minute of a bulk load; without it the planner
            # takes the bank for a few hundred rows and sorts all of it (0.5-0.8 s a page).
            with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("ANALYZE")
        return probe


def log_in(client: httpx.Client) -> None:
    page = client.get("/ui/login")
    token = _CSRF.search(page.text)
    assert token is not None
    response = client.post("/ui/login", data={"csrf_token": token.group(1),
                                              "username": "ada", "password": PASSWORD})
    assert response.status_code == 303, response.text


def measure(client: httpx.Client, path: str, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        response = client.get(path)
        times.append(time.perf_counter() - start)
        assert response.status_code == 200, (path, response.status_code, response.text[:300])
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--postgres", metavar="URL", help="a PostgreSQL server to use")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cordon-uibench-") as folder, \
            database(args.postgres, Path(folder)) as url:
        started = time.perf_counter()
        md5, entry_id = fill(url, args.entries, args.seed)
        fill_seconds = time.perf_counter() - started
        load_before = load_average()
        server = Server("ui-hub", ["hub", "serve", "--db", url, "--rate-limit", "0"])
        server.start()
        try:
            with httpx.Client(base_url=server.base, timeout=120) as client:
                logins = []
                for _ in range(args.repeats):
                    client.cookies.clear()
                    start = time.perf_counter()
                    log_in(client)
                    logins.append(time.perf_counter() - start)
                pages = {
                    "dashboard": "/ui/",
                    "banks": "/ui/banks",
                    "bank page (latest 50)": "/ui/banks/bench",
                    "entries (latest 50)": "/ui/entries",
                    "search by MD5": f"/ui/entries?hash={md5}",
                    "search by label": "/ui/entries?label=entity:example-group",
                    "search by contributor": "/ui/entries?contributor=bob",
                    "entry page": f"/ui/entries/{entry_id}",
                    "members": "/ui/members",
                    "audit log": "/ui/audit",
                }
                results: dict[str, Any] = {"login (form + argon2 check)": logins}
                for name, path in pages.items():
                    results[name] = measure(client, path, args.repeats)
        finally:
            server.stop()
        load_after = load_average()
    backend = "PostgreSQL" if args.postgres else "SQLite"
    rows = [(name, statistics.median(t) * 1000, max(t) * 1000) for name, t in results.items()]
    print_table(f"hub UI pages, {args.entries:,} entries, {backend}, {args.repeats} requests "
                f"each (load {load_before} -> {load_after}; fill {fill_seconds:.0f} s)",
                ["page", "median ms", "max ms"], rows)
    write_json(f"ui_{backend.lower()}", {
        "entries": args.entries, "backend": backend, "repeats": args.repeats,
        "load_before": load_before, "load_after": load_after,
        "pages_ms": {name: {"median": round(median, 1), "max": round(high, 1)}
                     for name, median, high in rows}})


if __name__ == "__main__":
    main()
