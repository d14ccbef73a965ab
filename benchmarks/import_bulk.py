"""Bulk import of PDQ hash lines into a bank, on SQLite and PostgreSQL.

    .venv/bin/python benchmarks/import_bulk.py [--lines 1000000] [--repeat 1]
        [--postgres postgresql+psycopg://postgres@127.0.0.1:5432/postgres]

Measures `Banks.import_file` (what `cordon bank import` runs) on a fresh bank: the first
import, then the same import again (the cost of resuming or repeating an import: every
record is recognized, nothing is written). Prints a table and writes JSON next to this file.
PostgreSQL runs in a scratch database that is dropped afterwards; it is skipped when neither
--postgres nor CORDON_TEST_POSTGRES names a server.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import statistics
import tempfile
import time
from pathlib import Path

from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from cordon.banks import Banks
from cordon.store import Store


def write_lines(path: Path, count: int) -> None:
    rng = random.Random(20240315)
    with open(path, "w") as out:
        for _ in range(count):
            out.write(f"pdq {rng.getrandbits(256):064x}\n")


def run_once(url: str, source: Path, count: int) -> tuple[float, float]:
    with Store(url) as store:
        banks = Banks(store)
        name = f"bench-{secrets.token_hex(3)}"
        banks.create(name)
        start = time.perf_counter()
        first = banks.import_file(name, source, "lines")
        imported = time.perf_counter() - start
        assert first.created == count, first
        start = time.perf_counter()
        again = banks.import_file(name, source, "lines")
        rerun = time.perf_counter() - start
        assert again.unchanged == count and again.created == 0, again
        assert banks.summary(name).live == count
    return imported, rerun


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--postgres", default=os.environ.get("CORDON_TEST_POSTGRES"))
    args = parser.parse_args()
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "pdq.txt"
        write_lines(source, args.lines)
        backends: list[tuple[str, str]] = []
        scratch = None
        if args.postgres:
            scratch = f"cordon_bench_{secrets.token_hex(4)}"
            admin = create_engine(args.postgres, isolation_level="AUTOCOMMIT")
            with admin.connect() as connection:
                connection.exec_driver_sql(f'CREATE DATABASE "{scratch}"')
            pg_url = make_url(args.postgres).set(database=scratch)
            backends.append(("postgresql", pg_url.render_as_string(hide_password=False)))
        try:
            for backend in ["sqlite", *(b for b, _ in backends)]:
                times, reruns = [], []
                for attempt in range(args.repeat):
                    if backend == "sqlite":
                        url = f"sqlite:///{Path(tmp) / f'bench-{attempt}.db'}"
                    else:
                        url = dict(backends)[backend]
                    imported, rerun = run_once(url, source, args.lines)
                    times.append(imported)
                    reruns.append(rerun)
                results[backend] = {
                    "lines": args.lines,
                    "import_s": statistics.median(times),
                    "rerun_s": statistics.median(reruns),
                    "lines_per_s": args.lines / statistics.median(times),
                }
        finally:
            if scratch is not None:
                with admin.connect() as connection:
                    connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')
                admin.dispose()
    print(f"{'backend':<12} {'lines':>10} {'import s':>10} {'lines/s':>10} {'rerun s':>10}")
    for backend, r in results.items():
        print(f"{backend:<12} {r['lines']:>10} {r['import_s']:>10.1f} {r['lines_per_s']:>10.0f} "
              f"{r['rerun_s']:>10.1f}")
    out = Path(__file__).with_name("results") / "import_bulk.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
