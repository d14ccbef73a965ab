"""Several node processes on one port: one leader follows the hub, every process indexes
what the others wrote (the local tail), and every process answers with the same index."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cordon.hub import cursor as cursors
from cordon.node.service import Node
from cordon.node.settings import NodeSettings
from cordon.node.workers import Leadership, LocalTail
from cordon.signals import get_signal_type
from cordon.store import Store
from tests.test_hub_support import RunningHub, free_port, make_bank
from tests.test_node_mirror_bulk import item
from tests.test_node_support import wait_for

pytest_plugins = ["tests.test_hub_support"]


def exact(node: Node, pdq: str) -> list[int]:
    parsed = {"pdq": get_signal_type("pdq").parse(pdq)}
    return [m["entry"] for m in node.find(parsed) if m["distance"] == 0]


@pytest.fixture()
def two(database_url: str) -> Iterator[tuple[Node, Node, LocalTail, LocalTail]]:
    """Two node processes' worth of state on one database (the store is what they share)."""
    with Store(database_url) as one, Store(database_url) as other:
        nodes = Node(one, NodeSettings()), Node(other, NodeSettings())
        tails = []
        for node in nodes:
            node.track_changes = True
            tail = LocalTail(node, 0.05)
            tail.mark_loaded()
            node.load()
            tails.append(tail)
        yield nodes[0], nodes[1], tails[0], tails[1]


def test_each_process_indexes_what_the_other_wrote(
        two: tuple[Node, Node, LocalTail, LocalTail]) -> None:
    leader, other, leader_tail, other_tail = two
    a, b = secrets.token_hex(32), secrets.token_hex(32)
    leader.apply_page([item(1, 1, a), item(2, 2, b)], cursors.encode(2))
    assert exact(other, a) == []
    assert other_tail.poll() == 2
    assert exact(other, a) == [1] and exact(other, b) == [2]
    # The leader skips its own changes: it indexed them when it wrote them.
    assert leader_tail.poll() == 0
    leader.apply_page([item(1, 3, a, withdrawn=True)], cursors.encode(3))
    other_tail.poll()
    assert exact(other, a) == [] and exact(other, b) == [2]
    # A private entry added through the other process reaches the leader.
    other.create_bank("own", None)
    private = secrets.token_hex(32)
    [entry] = other.add_entries("own", [{"signals": {"pdq": private}, "labels": []}])
    assert leader_tail.poll() >= 1
    assert [m["local_entry"] for m in leader.find(
        {"pdq": get_signal_type("pdq").parse(private)})] == [entry]


def test_one_leader_at_a_time_and_a_waiting_process_takes_over(tmp_path: Path) -> None:
    lock = str(tmp_path / "leader.lock")
    first, second = Leadership(lock), Leadership(lock)
    led: list[str] = []
    first.start(lambda: led.append("first"))
    assert first.leading.wait(5)
    second.start(lambda: led.append("second"))
    time.sleep(0.3)
    assert led == ["first"] and not second.leading.is_set()
    assert first._file is not None
    first._file.close()  # the leading process exits: the system releases its lock
    assert second.leading.wait(5)
    assert led == ["first", "second"]


def test_without_a_lock_file_the_only_process_leads() -> None:
    started = threading.Event()
    Leadership(None).start(started.set)
    assert started.is_set()


def test_serve_with_two_workers_follows_the_hub_in_every_process(
        hub: RunningHub, tmp_path: Path) -> None:
    make_bank(hub, "alice", "tcap", ["*"])
    db = f"sqlite:///{tmp_path / 'node.db'}"
    with Store(db) as store:
        _, token = Node(store).create_token("tests")
    port = free_port()
    log = open(tmp_path / "node.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [sys.executable, "-m", "cordon", "node", "serve", "--db", db, "--hub", hub.url,
         "--token", hub.tokens["bob"], "--port", str(port), "--workers", "2",
         "--poll-interval", "0.5"], stdout=log, stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    base = f"http://127.0.0.1:{port}"
    try:
        def ready() -> bool:
            try:
                return httpx.get(f"{base}/readyz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(ready, timeout=90, step=0.2)
        pdq = secrets.token_hex(32)
        with hub.client("alice") as client:
            response = client.post("/v1/banks/tcap/entries", json={"entries": [
                {"signals": {"pdq": pdq}, "labels": []}]})
            assert response.status_code == 200, response.text
            entry = int(response.json()["ids"][0])

        def everywhere(expected: bool) -> bool:
            # Fresh connections: the system spreads them over the two processes.
            answers = []
            for _ in range(12):
                with httpx.Client(base_url=base, timeout=10, headers={
                        "Authorization": f"Bearer {token}"}) as client:
                    found = client.post("/v1/match", json={"signals": {"pdq": pdq}}).json()
                    answers.append(any(m["entry"] == entry for m in found["matches"]))
            return all(a == expected for a in answers)

        assert wait_for(lambda: everywhere(True), timeout=20, step=0.1) < 10
        with hub.client("alice") as client:
            assert client.delete(f"/v1/entries/{entry}").status_code == 200
        wait_for(lambda: everywhere(False), timeout=20, step=0.1)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
    text = (tmp_path / "node.log").read_text()
    assert text.count("leads: follows the hub") == 1, text[-3000:]
