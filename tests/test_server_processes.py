"""Several server processes on one port, each with its own listening socket: connections
spread over them, a process that dies is replaced, a process that cannot start stops the
service, and a port already taken is a one-line error."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cordon.server_processes import balanced_by_kernel
from tests.test_hub_support import free_port
from tests.test_node_support import wait_for

pytestmark = pytest.mark.skipif(not balanced_by_kernel(), reason="needs SO_REUSEPORT")
ROOT = Path(__file__).resolve().parent.parent


def serve(factory: str, port: int, workers: int = 2) -> subprocess.Popen[bytes]:
    code = ("from cordon.server_processes import serve_processes; "
            f"serve_processes('tests.server_factories:{factory}', '127.0.0.1', {port}, "
            f"{workers}, log_level='info')")
    return subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)


def answering_processes(port: int, connections: int) -> Counter[int]:
    """Which process answered each of `connections` new connections."""
    seen: Counter[int] = Counter()
    for _ in range(connections):
        with httpx.Client(timeout=5) as client:  # one connection each
            seen[int(client.get(f"http://127.0.0.1:{port}/").text)] += 1
    return seen


def up(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture()
def served() -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    port = free_port()
    process = serve("process_id_app", port)
    try:
        wait_for(lambda: up(port), timeout=60, step=0.1)
        yield process, port
    finally:
        process.terminate()
        process.wait(30)


def test_connections_spread_over_every_process(
        served: tuple[subprocess.Popen[bytes], int]) -> None:
    _, port = served
    # Both processes listen once started; then the kernel hashes connections over both.
    wait_for(lambda: len(answering_processes(port, 10)) == 2, timeout=30, step=0.2)
    seen = answering_processes(port, 200)
    assert len(seen) == 2
    assert min(seen.values()) >= 60, seen  # 100 each on average; never all to one


def test_a_process_that_dies_is_replaced(served: tuple[subprocess.Popen[bytes], int]) -> None:
    _, port = served
    wait_for(lambda: len(answering_processes(port, 10)) == 2, timeout=30, step=0.2)
    before = set(answering_processes(port, 40))
    victim = min(before)
    os.kill(victim, signal.SIGKILL)
    # The survivor answers meanwhile; a new process joins it.
    assert up(port)

    def replaced() -> bool:
        now = set(answering_processes(port, 20))
        return len(now) == 2 and victim not in now

    wait_for(replaced, timeout=60, step=0.2)


def test_a_graceful_stop_stops_every_process(served: tuple[subprocess.Popen[bytes], int]) -> None:
    process, port = served
    wait_for(lambda: len(answering_processes(port, 10)) == 2, timeout=30, step=0.2)
    children = set(answering_processes(port, 40))
    process.send_signal(signal.SIGTERM)
    assert process.wait(30) == 0
    for pid in children:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert not up(port)


def test_a_process_that_cannot_start_stops_the_service() -> None:
    process = serve("failing_app", free_port())
    try:
        assert process.wait(60) == 1
    finally:
        if process.poll() is None:
            process.kill()
    assert process.stdout is not None
    output = process.stdout.read().decode()
    assert "failed to start" in output
    assert "Traceback" not in output


def test_a_port_taken_is_one_line_of_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "cordon", "node", "serve", "--no-hub", "--db",
             f"sqlite:///{tmp_path / 'node.db'}", "--port", str(port), "--workers", "2"],
            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert errors and f"cannot listen on 127.0.0.1:{port}" in errors[0], result.stderr
    assert len(errors) == 1 and "Traceback" not in result.stderr


@pytest.mark.postgres
def test_the_hub_serves_from_several_processes(postgres_database: str) -> None:
    from tests.conftest import _fresh_schema

    port = free_port()
    hub = subprocess.Popen(
        [sys.executable, "-m", "cordon", "hub", "serve", "--db",
         _fresh_schema(postgres_database), "--port", str(port), "--workers", "2"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def healthy() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).is_success
            except httpx.HTTPError:
                return False

        wait_for(healthy, timeout=90, step=0.2)
        for _ in range(20):  # fresh connections, over both processes
            assert healthy()
        hub.send_signal(signal.SIGTERM)
        assert hub.wait(30) == 0
    finally:
        if hub.poll() is None:
            hub.kill()
