"""The hub and node servers of the demo: `cordon hub serve` and `cordon node serve` as child
processes, their readiness, and a clean stop."""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from cordon.errors import CordonError

_PR_SET_PDEATHSIG = 1


def _find_prctl() -> Any:
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


# Looked up here, not in the child: between fork and exec only the call itself should run.
_prctl = _find_prctl()


def _die_with_parent() -> None:
    # A child outlives a parent killed with SIGKILL unless the kernel is told otherwise.
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def check_port_free(host: str, port: int, what: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            option = "--hub-port" if what == "hub" else "--node-port"
            raise CordonError(f"port {port} on {host} is in use; stop what listens there or "
                              f"pass {option}") from None


class Server:
    """One `cordon ... serve` child with its output in a log file."""

    def __init__(self, name: str, args: Sequence[str], url: str, log: Path,
                 env: dict[str, str] | None = None) -> None:
        self.name = name
        self.url = url
        self.log = log
        command = [sys.executable, "-m", "cordon", *args]
        with open(log, "ab") as out:
            self.process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {})}, start_new_session=True,
                preexec_fn=_die_with_parent)

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise CordonError(f"the {self.name} stopped at start-up (exit status "
                                  f"{self.process.returncode}); see {self.log}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise CordonError(f"the {self.name} did not answer within {timeout:.0f} s; "
                          f"see {self.log}")

    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 15.0) -> None:
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_hub(host: str, port: int, database_url: str, log: Path) -> Server:
    return Server("hub", ["--db", database_url, "hub", "serve", "--host", host,
                          "--port", str(port)], f"http://{host}:{port}", log)


def start_node(host: str, port: int, database_url: str, hub_url: str, hub_token: str,
               log: Path) -> Server:
    args = ["--db", database_url, "node", "serve", "--host", host, "--port", str(port),
            "--hub", hub_url, "--poll-interval", "2"]
    if _watches_streams():
        # The story's live stream is relayed on loopback, which nodes refuse by default.
        args += ["--allow-stream-network", "127.0.0.1/32"]
    # The token goes through the environment: command lines are visible to every user.
    return Server("node", args, f"http://{host}:{port}", log,
                  env={"CORDON_HUB_TOKEN": hub_token})


def _watches_streams() -> bool:
    from dataclasses import fields

    from cordon.node.settings import NodeSettings

    return any(f.name == "stream_allow_networks" for f in fields(NodeSettings))
