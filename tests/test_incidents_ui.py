"""The incidents console over real HTTP: declare from the hub's UI, follow the timeline and
counters, conclude, read the debrief; the node's incidents page with its banner and the
crisis mode; roles, CSRF and hostile text."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.test_hub_support import make_bank
from tests.test_node_support import wait_for
from tests.web_support import HubUi, NodeUi, csrf_of, hub_ui, serve_node_ui

__all__ = ["hub_ui"]
pytest_plugins = ["tests.test_hub_support"]

HOSTILE = '<script>alert("x")</script>'


@pytest.fixture()
def followed(hub_ui: HubUi, tmp_path: Path) -> Iterator[tuple[HubUi, NodeUi]]:
    make_bank(hub_ui.hub, "admin", "crisis", ["*"])
    for node in serve_node_ui(f"sqlite:///{tmp_path / 'node.db'}", hub_ui.hub):
        yield hub_ui, node


def test_console_declare_follow_conclude_and_node_banner(
        followed: tuple[HubUi, NodeUi]) -> None:
    hub_ui, node_ui = followed
    with hub_ui.client("ada") as client:
        page = client.get("/ui/incidents")
        assert page.status_code == 200 and "Declare an incident" in page.text
        declared = client.post("/ui/incidents", data={
            "csrf_token": csrf_of(page.text), "level": "pci", "title": f"Attack {HOSTILE}",
            "bank": "crisis", "criteria": "perpetrator-produced\nlive-streamed",
            "attack_at": "2026-11-21T03:00:00+00:00", "description": HOSTILE})
        assert declared.status_code == 303, declared.text
        location = declared.headers["location"]
        incident = int(location.rsplit("/", 1)[1])
        detail = client.get(location)
        assert detail.status_code == 200 and "<script>alert" not in detail.text
        assert "&lt;script&gt;" in detail.text and "declare" in detail.text
        assert 'http-equiv="refresh"' in detail.text
    # The node learns of it and shows the banner; its admin switches crisis mode on.
    wait_for(lambda: node_ui.node.app.state.incidents.list(), 5)
    with node_ui.client("admin") as client:
        page = client.get("/ui/incidents")
        assert page.status_code == 200 and f"Incident {incident} is open" in page.text
        assert "<script>alert" not in page.text
        switched = client.post(f"/ui/incidents/{incident}/crisis", data={
            "csrf_token": csrf_of(page.text), "action": "block", "max_distance": "20"})
        assert switched.status_code == 303
        assert "crisis mode: block up to distance 20.0" in client.get("/ui/incidents").text
        bad = client.post(f"/ui/incidents/{incident}/crisis", data={
            "csrf_token": csrf_of(page.text), "action": "block", "max_distance": "far"})
        assert bad.status_code == 422 and "not a number" in bad.text
    assert [r.action for r in node_ui.node.node.crisis_rules] == ["block"]
    with node_ui.client("reviewer") as client:
        page = client.get("/ui/incidents")
        assert page.status_code == 200 and "Set</button>" not in page.text
        assert client.post(f"/ui/incidents/{incident}/crisis", data={
            "csrf_token": csrf_of(page.text), "action": "off"}).status_code == 403
    with hub_ui.client("ada") as client:
        page = client.get(f"/ui/incidents/{incident}")
        update = client.post(f"/ui/incidents/{incident}", data={
            "csrf_token": csrf_of(page.text), "action": "update", "situation": "Spreading",
            "level": "pci"})
        assert update.status_code == 303
        concluded = client.post(f"/ui/incidents/{incident}", data={
            "csrf_token": csrf_of(page.text), "action": "conclude"})
        assert concluded.status_code == 303
        again = client.post(f"/ui/incidents/{incident}", data={
            "csrf_token": csrf_of(page.text), "action": "conclude"})
        assert again.status_code == 409 and "not open" in again.text
        debrief = client.get(f"/ui/incidents/{incident}/debrief")
        assert debrief.status_code == 200 and "Acknowledgements" in debrief.text
        assert "bob" in debrief.text  # the node's member acknowledged
    wait_for(lambda: node_ui.node.node.crisis_rules == [], 5)


def test_console_roles_csrf_and_bad_input(followed: tuple[HubUi, NodeUi]) -> None:
    hub_ui, _ = followed
    with hub_ui.client("rita") as client:  # a reader
        page = client.get("/ui/incidents")
        assert page.status_code == 200 and "Declare an incident" not in page.text
        refused = client.post("/ui/incidents", data={
            "csrf_token": csrf_of(page.text), "level": "pci", "title": "x", "bank": "crisis"})
        assert refused.status_code == 403
    with hub_ui.client("cora") as client:  # a contributor proposes
        page = client.get("/ui/incidents")
        assert "Propose an incident" in page.text
        forged = client.post("/ui/incidents", data={"csrf_token": "forged", "level": "pci",
                                                    "title": "x", "bank": "crisis"})
        assert forged.status_code == 403
        for bad in ({"level": "severe"}, {"attack_at": "yesterday"},
                    {"attack_at": "2026-11-21T03:00:00"}, {"title": "   "}):
            answer = client.post("/ui/incidents", data={
                "csrf_token": csrf_of(page.text), "level": "pci", "title": "Proposal",
                "bank": "crisis", **bad})
            assert answer.status_code == 422, (bad, answer.status_code)
        proposed = client.post("/ui/incidents", data={
            "csrf_token": csrf_of(page.text), "level": "pci", "title": "Proposal",
            "bank": "crisis"})
        assert proposed.status_code == 303
        location = proposed.headers["location"]
        detail = client.get(location)
        assert "proposed" in detail.text and "Confirm and open" not in detail.text
        denied = client.post(location, data={"csrf_token": csrf_of(detail.text),
                                             "action": "confirm"})
        assert denied.status_code == 403
    with hub_ui.client("ada") as client:
        detail = client.get(location)
        confirmed = client.post(location, data={"csrf_token": csrf_of(detail.text),
                                                "action": "confirm"})
        assert confirmed.status_code == 303
        assert client.get("/ui/incidents/999999").status_code == 404
