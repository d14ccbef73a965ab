"""The incident drill end to end over real HTTP: a hub and two nodes. Declare; every node
learns within a second, alerts its operators (webhook `incident`) and acknowledges; variants
shared from one node are blocked at the other by its crisis rule; conclude; read the debrief.
Also: a node that is down at the declaration, and incident entries overtaking a backlog."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from cordon.hub.service import EntryInput
from cordon.node.settings import NodeSettings
from tests.test_hub_support import RunningHub, make_bank
from tests.test_node_api import Receiver
from tests.test_node_support import RunningNode, serve_node, start_node, wait_for

pytest_plugins = ["tests.test_hub_support"]


def settings_for(hub: RunningHub, member: str) -> NodeSettings:
    return NodeSettings(hub_url=hub.url, hub_token=hub.tokens[member], poll_seconds=0.5,
                        retry_base=0.2, retry_max=0.5)


@pytest.fixture()
def crisis_hub(hub: RunningHub) -> RunningHub:
    make_bank(hub, "admin", "crisis", ["*"])
    return hub


@pytest.fixture()
def node_a(crisis_hub: RunningHub, tmp_path: Path) -> Iterator[RunningNode]:
    yield from serve_node(f"sqlite:///{tmp_path / 'a.db'}", settings_for(crisis_hub, "alice"))


@pytest.fixture()
def node_b(crisis_hub: RunningHub, tmp_path: Path) -> Iterator[RunningNode]:
    yield from serve_node(f"sqlite:///{tmp_path / 'b.db'}", settings_for(crisis_hub, "bob"))


def declare(hub: RunningHub, title: str = "Attack in Example City") -> dict[str, Any]:
    with hub.client("admin") as client:
        response = client.post("/v1/incidents", json={
            "level": "pci", "title": title, "bank": "crisis",
            "criteria": ["perpetrator-produced"]})
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def node_incident(node: RunningNode, incident_id: int) -> dict[str, Any] | None:
    with node.client() as client:
        response = client.get(f"/v1/incidents/{incident_id}")
    return response.json() if response.status_code == 200 else None


def timeline(hub: RunningHub, incident_id: int) -> list[dict[str, Any]]:
    with hub.client("admin") as client:
        return client.get(f"/v1/incidents/{incident_id}").json()["timeline"]  # type: ignore


def match(node: RunningNode, pdq: str) -> dict[str, Any]:
    with node.client() as client:
        response = client.post("/v1/match", json={"signals": {"pdq": pdq}})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_drill_declare_share_block_conclude_debrief(
        crisis_hub: RunningHub, node_a: RunningNode, node_b: RunningNode) -> None:
    receiver = Receiver(failures=0)
    receiver.start()
    try:
        with node_b.client() as client:
            hook = client.post("/v1/webhooks", json={
                "url": f"http://127.0.0.1:{receiver.port}/hook",
                "secret": "s3cret-s3cret-s3cret", "events": ["incident"]})
            assert hook.status_code == 201, hook.text
            # Normally the platform reviews matches of the crisis bank.
            assert client.post("/v1/rules", json={"name": "review crisis", "action": "review",
                                                  "bank": "crisis"}).status_code == 201
        for node in (node_a, node_b):
            wait_for(lambda n=node: n.app.state.follower.status.mode == "stream", 10)

        incident = declare(crisis_hub)
        number = incident["id"]
        for node in (node_a, node_b):
            assert wait_for(lambda n=node: node_incident(n, number), 1.0) < 1.0
        wait_for(lambda: any(json.loads(body)["event"] == "incident"
                             for _, body, _ in receiver.received), 5)
        alert = json.loads(receiver.received[0][1])
        assert alert["change"] == "declared" and alert["incident"]["id"] == number
        wait_for(lambda: {e["member"] for e in timeline(crisis_hub, number)
                          if e["kind"] == "ack"} == {"alice", "bob"}, 5)

        with node_b.client() as client:
            crisis = client.put(f"/v1/incidents/{number}/crisis", json={"action": "block"})
            assert crisis.status_code == 200 and crisis.json()["crisis"]["action"] == "block"

        # Node A shares three variants of the perpetrator's video for the incident.
        variants = [secrets.token_hex(32) for _ in range(3)]
        with node_a.client() as client:
            assert client.post("/v1/banks", json={"name": "found"}).status_code == 201
            ids = client.post("/v1/banks/found/entries", json={"entries": [
                {"signals": {"pdq": v}, "labels": ["content:video"]} for v in variants]}
            ).json()["ids"]
            for entry_id in ids:
                shared = client.post(f"/v1/entries/{entry_id}/share",
                                     json={"bank": "crisis", "incident": number})
                assert shared.status_code == 201, shared.text

        # Node B blocks them, by the crisis rule ahead of its ordinary review rule.
        for pdq in variants:
            wait_for(lambda p=pdq: match(node_b, p)["matches"], 1.0)
            found = match(node_b, pdq)
            assert found["matches"][0]["labels"] == ["content:video", f"incident:{number}"]
            assert [a["action"] for a in found["actions"]] == ["block", "review"]
            assert found["actions"][0]["rule_name"] == f"crisis: incident {number}"

        node_b.app.state.incidents.wake()
        with crisis_hub.client("admin") as client:
            # Each variant was matched twice above (waiting, then checking).
            wait_for(lambda: client.get(f"/v1/incidents/{number}/report").json()["blocks"]
                     == 6, 5)
            assert client.patch(f"/v1/incidents/{number}", json={
                "situation": "Contained"}).status_code == 200
            assert client.patch(f"/v1/incidents/{number}",
                                json={"status": "concluded"}).status_code == 200
        # The nodes learn of the conclusion; the crisis rule ends with the incident.
        wait_for(lambda: node_incident(node_b, number)["status"] == "concluded", 1.0)
        assert [a["action"] for a in match(node_b, variants[0])["actions"]] == ["review"]
        wait_for(lambda: any(json.loads(body).get("change") == "concluded"
                             for _, body, _ in receiver.received), 5)

        with crisis_hub.client("carol") as client:
            report = client.get(f"/v1/incidents/{number}/report").json()
            page = client.get(f"/v1/incidents/{number}/report", params={"format": "html"})
        assert report["items"] == 3 and report["hashes"] == 3
        assert report["contributors"] == [{"member": "alice", "items": 3}]
        assert report["members_acknowledging"] == 2
        assert report["member_counts"][0]["member"] == "bob"
        assert report["matches"] == 6 and report["blocks"] == 6
        assert report["seconds_to_first_hash"] is not None
        assert report["seconds_to_conclusion"] >= report["seconds_to_first_hash"]
        assert page.status_code == 200 and "Attack in Example City" in page.text
        kinds = [e["kind"] for e in timeline(crisis_hub, number)]
        assert kinds[0] == "declare" and kinds[-1] == "conclude"
        assert kinds.count("hashes") == 3 and kinds.count("ack") == 2
    finally:
        receiver.stop()


def test_node_down_at_declaration_learns_on_reconnect(
        crisis_hub: RunningHub, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'late.db'}"
    node = start_node(url, settings_for(crisis_hub, "bob"))
    node.stop()
    node.store.close()
    incident = declare(crisis_hub)
    number = incident["id"]
    pdq = secrets.token_hex(32)
    with crisis_hub.client("alice") as client:
        assert client.post("/v1/banks/crisis/entries", json={"entries": [
            {"signals": {"pdq": pdq}, "incident": number}]}).status_code == 200
    time.sleep(0.5)
    down_until = time.time()
    node = start_node(url, settings_for(crisis_hub, "bob"))
    try:
        learned = wait_for(lambda: node_incident(node, number), 5)
        assert learned < 5
        assert match(node, pdq)["matches"][0]["labels"] == [f"incident:{number}"]
        wait_for(lambda: any(e["kind"] == "ack" for e in timeline(crisis_hub, number)), 5)
        ack = next(e for e in timeline(crisis_hub, number) if e["kind"] == "ack")
        assert ack["member"] == "bob"
        assert ack["detail"]["seconds_after_declaration"] >= 0.5
        assert datetime.fromisoformat(ack["at"]).timestamp() >= down_until
    finally:
        node.stop()
        node.store.close()


def test_incident_entries_overtake_a_backlog(crisis_hub: RunningHub, tmp_path: Path) -> None:
    """A node catching up on 30,000 ordinary entries gets an incident and its entries long
    before its cursor reaches them; the raw stream puts them ahead too."""
    hub_service = crisis_hub.hub
    member = hub_service.authenticate(crisis_hub.tokens["admin"])
    assert member is not None
    for _ in range(3):
        hub_service.contribute(member, "crisis", [
            EntryInput({"pdq": secrets.token_hex(32)}, []) for _ in range(10_000)], None)

    with crisis_hub.client("bob") as client, client.stream("GET", "/v1/stream") as stream:
        lines = stream.iter_lines()
        next(line for line in lines if line.startswith("data:"))
        node = start_node(f"sqlite:///{tmp_path / 'behind.db'}",
                          settings_for(crisis_hub, "bob"))
        try:
            # Small feed pages: the cursor takes its time over the backlog, whatever the
            # speed of this machine, so that the priority path is what is seen here.
            node.app.state.follower.page_size = 20
            time.sleep(0.3)
            incident = declare(crisis_hub)
            pdq = secrets.token_hex(32)
            with crisis_hub.client("alice") as alice:
                response = alice.post("/v1/banks/crisis/entries", json={"entries": [
                    {"signals": {"pdq": pdq}, "incident": incident["id"]}]})
                assert response.status_code == 200
            # Hub, node and this test share one process (and its GIL) here, next to a
            # catch-up at full speed: the figure itself is measured by benchmarks/incident.py.
            wait_for(lambda: match(node, pdq)["matches"], 5.0)
            assert node_incident(node, incident["id"]) is not None
            assert node.app.state.node.stats()["mirrored_entries"] < 30_000
            # Eventually the cursor reaches the entry too, without doubling it.
            wait_for(lambda: node.app.state.node.stats()["mirrored_entries"] == 30_001, 120)
            assert len(match(node, pdq)["matches"]) == 1
        finally:
            node.stop()
            node.store.close()
        # The plain stream, opened before all this and read slowly, interleaves them.
        kinds: list[str] = []
        event = ""
        for line in lines:
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:"):
                kinds.append(event)
                if event == "priority":
                    pushed = orjson.loads(line[5:])
                    assert [e["incident"] for e in pushed] == [str(incident["id"])]
                    break
        assert "incident" in kinds
        assert len(kinds) < 29_000  # well before the end of the backlog
