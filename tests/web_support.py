"""Helpers of the web UI tests: a real hub (and node) with UI users, and logging in over
HTTP the way a browser does (login form, CSRF cookie, session cookie)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from cordon.node.settings import NodeSettings
from cordon.store import hub_repository as hub_repo
from cordon.web.users import Users
from tests.test_hub_support import RunningHub, serve
from tests.test_node_support import RunningNode, serve_node

PASSWORD = "correct horse battery"
# UI user -> (hub member, role of the member)
HUB_USERS = {"ada": ("admin", "admin"), "cora": ("alice", "contributor"),
             "rita": ("carol", "reader")}
_CSRF = re.compile(r'name="csrf_token" value="([^"]*)"')


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "no CSRF field in the page"
    return found.group(1)


def login(client: httpx.Client, username: str = "", password: str = PASSWORD,
          token: str = "", next_url: str = "") -> httpx.Response:
    page = client.get("/ui/login")
    assert page.status_code == 200, page.text
    form = {"csrf_token": csrf_of(page.text), "next": next_url}
    form.update({"token": token} if token else {"username": username, "password": password})
    return client.post("/ui/login", data=form)


@contextmanager
def ui_client(url: str, user: str | None = None) -> Iterator[httpx.Client]:
    """A cookie-keeping client, logged in as `user` when given."""
    with httpx.Client(base_url=url, timeout=30) as client:
        if user is not None:
            response = login(client, user)
            assert response.status_code == 303, response.text
        yield client


@dataclass
class HubUi:
    hub: RunningHub

    @property
    def url(self) -> str:
        return self.hub.url

    def client(self, user: str | None = None) -> AbstractContextManager[httpx.Client]:
        return ui_client(self.hub.url, user)


def add_hub_users(hub: RunningHub) -> None:
    users = Users(hub.store, "hub")
    for name, (member, role) in HUB_USERS.items():
        if member not in hub.tokens:
            hub.add_member(member, role)
        with hub.store.read() as conn:
            found = hub_repo.find_member(conn, member)
        assert found is not None
        users.add(name, PASSWORD, member_id=found.id)


@pytest.fixture()
def hub_ui(database_url: str) -> Iterator[HubUi]:
    """A hub with members admin, alice (contributor), bob (contributor), carol (reader) and
    UI users ada (admin), cora (alice) and rita (carol), all with the password PASSWORD."""
    for running in serve(database_url):
        running.add_member("admin", "admin")
        running.add_member("alice", "contributor")
        running.add_member("bob", "contributor")
        running.add_member("carol", "reader")
        add_hub_users(running)
        yield HubUi(running)


@dataclass
class NodeUi:
    """A running node (following `hub` when given) whose UI users are named after their
    node role (`admin`, `reviewer`, ...), all with the password PASSWORD."""

    node: RunningNode
    hub: RunningHub | None = None

    @property
    def url(self) -> str:
        return self.node.url

    def user(self, role: str) -> str:
        """The UI user of `role`, created on first use."""
        users = Users(self.node.store, "node")
        if users.find(role) is None:
            users.add(role, PASSWORD, role=role)
        return role

    def client(self, role: str | None = None) -> AbstractContextManager[httpx.Client]:
        return ui_client(self.node.url, self.user(role) if role else None)


def serve_node_ui(database_url: str, hub: RunningHub | None = None) -> Iterator[NodeUi]:
    settings = (NodeSettings(hub_url=hub.url, hub_token=hub.tokens["bob"], poll_seconds=0.5,
                             retry_base=0.2) if hub is not None else NodeSettings())
    for running in serve_node(database_url, settings):
        yield NodeUi(running, hub)


@pytest.fixture()
def node_ui(tmp_path: Path) -> Iterator[NodeUi]:
    """A node on SQLite without a hub."""
    yield from serve_node_ui(f"sqlite:///{tmp_path / 'node.db'}")
