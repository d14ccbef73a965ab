"""Helpers of the node tests: a real node served by uvicorn on a free loopback port, next to
a real hub (tests/test_hub_support.py)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn

from cordon.node.app import create_app
from cordon.node.service import Node
from cordon.node.settings import NodeSettings
from cordon.store import Store
from tests.test_hub_support import start_server


@dataclass
class RunningNode:
    url: str
    store: Store
    node: Node
    token: str
    server: uvicorn.Server
    thread: threading.Thread
    app: Any = field(default=None)

    def client(self, token: str | None = None, **kwargs: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token or self.token}"}
        return httpx.Client(base_url=self.url, headers=headers, **{"timeout": 30, **kwargs})

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


def start_node(database_url: str, settings: NodeSettings,
               wrap: Callable[[Any], Any] | None = None, port: int | None = None) -> RunningNode:
    store = Store(database_url)
    app = create_app(settings, store)
    node: Node = app.state.node
    _, token = node.create_token("tests")
    server, thread, port = start_server(wrap(app) if wrap else app, "node", port=port)
    return RunningNode(f"http://127.0.0.1:{port}", store, node, token, server, thread, app)


def serve_node(database_url: str, settings: NodeSettings) -> Iterator[RunningNode]:
    running = start_node(database_url, settings)
    try:
        yield running
    finally:
        running.stop()
        running.store.close()


def wait_for(check: Callable[[], Any], timeout: float, step: float = 0.01) -> float:
    """Seconds until `check()` is truthy; fails after `timeout`."""
    start = time.monotonic()
    while True:
        if check():
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            raise AssertionError(f"not true within {timeout} s")
        time.sleep(step)


def matched_entries(node: RunningNode, signals: dict[str, str]) -> set[int]:
    with node.client() as client:
        response = client.post("/v1/match", json={"signals": signals})
        assert response.status_code == 200, response.text
        return {m["entry"] for m in response.json()["matches"] if m["origin"] == "hub"}
