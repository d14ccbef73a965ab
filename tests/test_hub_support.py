"""Helpers of the hub tests: a real hub served by uvicorn on a free loopback port."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
import uvicorn

from cordon.hub.app import create_app
from cordon.hub.service import Hub
from cordon.hub.settings import HubSettings
from cordon.store import Store

PDQ_A = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
PDQ_B = "0f0f0f31e0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
MD5_A = "d41d8cd98f00b204e9800998ecf8427e"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(
    app: object, what: str, port: int | None = None, timeout: float = 30, **config: object
) -> tuple[uvicorn.Server, threading.Thread, int]:
    """Serve `app` with uvicorn on a loopback port in a thread; returns once it listens."""
    port = port or free_port()
    options: dict = {"log_level": "warning", "lifespan": "on", "timeout_graceful_shutdown": 1,
                     **config}
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, **options))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"the {what} did not start")
        time.sleep(0.02)
    return server, thread, port


@dataclass
class RunningHub:
    url: str
    store: Store
    hub: Hub
    tokens: dict[str, str] = field(default_factory=dict)

    def client(self, member: str | None = None, **kwargs: object) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[member]}"} if member else {}
        options: dict = {"timeout": 30, **kwargs}
        return httpx.Client(base_url=self.url, headers=headers, **options)

    def add_member(self, name: str, role: str) -> str:
        _, _, token = self.hub.add_member(name, role)
        self.tokens[name] = token
        return token


def serve(database_url: str, settings: HubSettings | None = None,
          log_config: dict | None = None) -> Iterator[RunningHub]:
    store = Store(database_url)
    settings = settings or HubSettings(database_url=database_url, rate_limit=0,
                                       heartbeat_seconds=0.5)
    app = create_app(settings, store)
    server, thread, port = start_server(app, "hub", timeout=20, log_config=log_config,
                                        log_level="info")
    running = RunningHub(f"http://127.0.0.1:{port}", store, app.state.hub)
    try:
        yield running
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        store.close()


@pytest.fixture()
def hub(database_url: str) -> Iterator[RunningHub]:
    """A hub with members admin, alice and bob (contributors), carol (reader)."""
    for running in serve(database_url):
        running.add_member("admin", "admin")
        running.add_member("alice", "contributor")
        running.add_member("bob", "contributor")
        running.add_member("carol", "reader")
        yield running


def make_bank(hub: RunningHub, member: str, name: str, shared_with: list[str]) -> None:
    with hub.client(member) as client:
        response = client.post("/v1/banks", json={"name": name, "shared_with": shared_with})
        assert response.status_code == 201, response.text


def read_feed(client: httpx.Client, cursor: str | None = None, **params: object) -> tuple[
        list[dict], str]:
    """Every page from `cursor` to the end; returns (entries, last cursor)."""
    entries: list[dict] = []
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = client.get("/v1/feed", params=query)
        assert response.status_code == 200, response.text
        page = response.json()
        entries.extend(page["entries"])
        cursor = page["cursor"]
        if not page["more"]:
            return entries, cursor
