"""Incidents at the hub over HTTP: declaring, proposing, updating, concluding, the timeline,
acknowledgements, counts and the debrief, and every refusal (twice, not open, concluded,
roles, malformed bodies)."""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from tests.test_hub_support import RunningHub, make_bank

pytest_plugins = ["tests.test_hub_support"]

DECLARATION = {"level": "pci", "title": "Attack in Example City", "bank": "crisis",
               "description": "Live-streamed attack; <script>alert(1)</script>",
               "location": "Example City", "attack_at": "2026-11-21T03:00:00+00:00",
               "criteria": ["perpetrator-produced", "live-streamed"]}


@pytest.fixture()
def crisis_hub(hub: RunningHub) -> RunningHub:
    make_bank(hub, "admin", "crisis", ["*"])
    return hub


def declare(hub: RunningHub, member: str = "admin", **changes: Any) -> dict[str, Any]:
    with hub.client(member) as client:
        response = client.post("/v1/incidents", json={**DECLARATION, **changes})
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def patch(hub: RunningHub, incident: int, member: str = "admin", **body: Any) -> Any:
    with hub.client(member) as client:
        return client.patch(f"/v1/incidents/{incident}", json=body)


def share(hub: RunningHub, member: str, incident: Any, count: int = 1,
          bank: str = "crisis") -> Any:
    entries = [{"signals": {"pdq": secrets.token_hex(32)}, "labels": ["content:video"],
                "incident": incident} for _ in range(count)]
    with hub.client(member) as client:
        return client.post(f"/v1/banks/{bank}/entries", json={"entries": entries})


def test_declare_update_conclude_with_timeline(crisis_hub: RunningHub) -> None:
    incident = declare(crisis_hub)
    assert incident["status"] == "open" and incident["label"] == f"incident:{incident['id']}"
    assert incident["declared_by"] == "admin" and incident["declared_at"]
    response = patch(crisis_hub, incident["id"], situation="Copies on three platforms")
    assert response.status_code == 200 and response.json()["version"] == 2
    assert patch(crisis_hub, incident["id"], level="incident").json()["level"] == "incident"
    assert patch(crisis_hub, incident["id"], level="pci").status_code == 200
    assert share(crisis_hub, "alice", incident["id"], 3).status_code == 200
    with crisis_hub.client("bob") as client:
        ack = client.post(f"/v1/incidents/{incident['id']}/ack").json()
        assert ack["first"] is True
        assert client.post(f"/v1/incidents/{incident['id']}/ack").json()["first"] is False
    concluded = patch(crisis_hub, incident["id"], status="concluded")
    assert concluded.status_code == 200 and concluded.json()["concluded_by"] == "admin"
    with crisis_hub.client("carol") as client:
        detail = client.get(f"/v1/incidents/{incident['id']}").json()
        listed = client.get("/v1/incidents", params={"status": "concluded"}).json()
    kinds = [event["kind"] for event in detail["timeline"]]
    assert kinds == ["declare", "update", "de-escalate", "escalate", "hashes", "ack",
                     "conclude"]
    hashes = detail["timeline"][4]
    assert hashes["member"] == "alice" and hashes["detail"] == {"entries": 3, "signals": 3}
    assert detail["timeline"][5]["member"] == "bob"
    assert [i["id"] for i in listed["incidents"]] == [incident["id"]]


def test_entries_carry_the_incident_label(crisis_hub: RunningHub) -> None:
    incident = declare(crisis_hub)
    for given in (incident["id"], str(incident["id"]), f"incident:{incident['id']}"):
        response = share(crisis_hub, "alice", given)
        assert response.status_code == 200, response.text
        with crisis_hub.client("bob") as client:
            entry = client.get(f"/v1/entries/{response.json()['ids'][0]}").json()
        assert entry["incident"] == str(incident["id"])
        assert entry["labels"] == ["content:video", f"incident:{incident['id']}"]


def test_declaring_twice_is_a_conflict(crisis_hub: RunningHub) -> None:
    first = declare(crisis_hub)
    with crisis_hub.client("admin") as client:
        again = client.post("/v1/incidents",
                            json={**DECLARATION, "title": DECLARATION["title"].upper()})
    assert again.status_code == 409
    assert f"incident {first['id']}" in again.json()["detail"]
    assert patch(crisis_hub, first["id"], status="open").status_code == 409
    # Once concluded, the same title may be declared again (a new incident).
    assert patch(crisis_hub, first["id"], status="concluded").status_code == 200
    assert declare(crisis_hub)["id"] != first["id"]


def test_concluding_an_incident_that_is_not_open(crisis_hub: RunningHub) -> None:
    incident = declare(crisis_hub)
    assert patch(crisis_hub, incident["id"], status="concluded").status_code == 200
    again = patch(crisis_hub, incident["id"], status="concluded")
    assert again.status_code == 409 and "concluded" in again.json()["detail"]
    assert patch(crisis_hub, incident["id"], situation="late").status_code == 409
    proposal = declare(crisis_hub, "alice", title="Unconfirmed report")
    early = patch(crisis_hub, proposal["id"], status="concluded")
    assert early.status_code == 409 and "proposed" in early.json()["detail"]
    assert patch(crisis_hub, 999_999, status="concluded").status_code == 404


def test_hashes_for_a_concluded_incident_are_refused(crisis_hub: RunningHub) -> None:
    incident = declare(crisis_hub)
    assert share(crisis_hub, "alice", incident["id"]).status_code == 200
    assert patch(crisis_hub, incident["id"], status="concluded").status_code == 200
    refused = share(crisis_hub, "alice", incident["id"], 2)
    assert refused.status_code == 409 and "concluded" in refused.json()["detail"]
    with crisis_hub.client("admin") as client:
        feed = client.get("/v1/feed").json()["entries"]
    assert len(feed) == 1  # nothing of the refused batch was written


def test_hashes_for_unknown_proposed_or_misplaced_incidents(crisis_hub: RunningHub) -> None:
    make_bank(crisis_hub, "alice", "other", ["*"])
    assert share(crisis_hub, "alice", 424242).status_code == 422
    assert share(crisis_hub, "alice", "not-a-number").status_code == 422
    proposal = declare(crisis_hub, "alice")
    assert share(crisis_hub, "alice", proposal["id"]).status_code == 409
    assert patch(crisis_hub, proposal["id"], status="open").status_code == 200
    wrong_bank = share(crisis_hub, "alice", proposal["id"], bank="other")
    assert wrong_bank.status_code == 422 and "crisis" in wrong_bank.json()["detail"]
    assert share(crisis_hub, "alice", proposal["id"]).status_code == 200


def test_roles_declaring_proposing_and_concluding(crisis_hub: RunningHub) -> None:
    with crisis_hub.client("carol") as client:
        refused = client.post("/v1/incidents", json=DECLARATION)
    assert refused.status_code == 403 and "reader" in refused.json()["detail"]
    proposal = declare(crisis_hub, "alice")
    assert proposal["status"] == "proposed" and proposal["proposed_by"] == "alice"
    # A proposal is seen by its author and the admins only, and nobody acknowledges it.
    with crisis_hub.client("bob") as client:
        assert client.get("/v1/incidents").json()["incidents"] == []
        assert client.get(f"/v1/incidents/{proposal['id']}").status_code == 404
    with crisis_hub.client("alice") as client:
        assert client.post(f"/v1/incidents/{proposal['id']}/ack").status_code == 409
    for member in ("alice", "bob", "carol"):
        assert patch(crisis_hub, proposal["id"], member, status="open").status_code == 403
    confirmed = patch(crisis_hub, proposal["id"], status="open").json()
    assert confirmed["status"] == "open" and confirmed["declared_by"] == "admin"
    for member in ("alice", "carol"):
        denied = patch(crisis_hub, proposal["id"], member, status="concluded")
        assert denied.status_code == 403 and "only admins" in denied.json()["detail"]
    with crisis_hub.client("carol") as client:
        assert share(crisis_hub, "carol", proposal["id"]).status_code == 403
    rejected = declare(crisis_hub, "bob", title="False alarm")
    assert patch(crisis_hub, rejected["id"], status="rejected").json()["status"] == "rejected"


def test_bad_bodies_get_clear_errors(crisis_hub: RunningHub) -> None:
    with crisis_hub.client("admin") as client:
        cases = [
            {**DECLARATION, "level": "severe"},
            {**DECLARATION, "unknown": 1},
            {**DECLARATION, "attack_at": "2026-11-21T03:00:00"},  # no time zone
            {**DECLARATION, "title": ""},
            {**DECLARATION, "title": "x" * 201},
            {**DECLARATION, "criteria": ["x" * 201]},
            {k: v for k, v in DECLARATION.items() if k != "bank"},
        ]
        for body in cases:
            response = client.post("/v1/incidents", json=body)
            assert response.status_code == 422, (body, response.text)
        assert client.post("/v1/incidents", json={**DECLARATION, "title": "   "}
                           ).status_code == 422
        missing = client.post("/v1/incidents", json={**DECLARATION, "bank": "nope"})
        assert missing.status_code == 403
        incident = client.post("/v1/incidents", json=DECLARATION).json()
        assert client.patch(f"/v1/incidents/{incident['id']}", json={}).status_code == 422
        assert client.patch(f"/v1/incidents/{incident['id']}",
                            json={"status": "closed"}).status_code == 422
        assert client.put(f"/v1/incidents/{incident['id']}/counts",
                          json={"matches": -1, "blocks": 0}).status_code == 422
        assert client.get("/v1/incidents/abc").status_code == 422
        assert client.get("/v1/incidents", params={"status": "nope"}).status_code == 422
    with crisis_hub.client() as anonymous:
        assert anonymous.post("/v1/incidents", json=DECLARATION).status_code == 401


def test_debrief_report_json_and_html(crisis_hub: RunningHub) -> None:
    incident = declare(crisis_hub)
    assert share(crisis_hub, "alice", incident["id"], 4).status_code == 200
    assert share(crisis_hub, "bob", incident["id"], 2).status_code == 200
    with crisis_hub.client("bob") as client:
        client.post(f"/v1/incidents/{incident['id']}/ack")
        counted = client.put(f"/v1/incidents/{incident['id']}/counts",
                             json={"matches": 7, "blocks": 5})
        assert counted.status_code == 200
    patch(crisis_hub, incident["id"], situation="Spreading on video sites")
    patch(crisis_hub, incident["id"], status="concluded")
    with crisis_hub.client("carol") as client:
        report = client.get(f"/v1/incidents/{incident['id']}/report").json()
        page = client.get(f"/v1/incidents/{incident['id']}/report",
                          headers={"Accept": "text/html"})
    assert report["items"] == 6 and report["hashes"] == 6
    assert report["contributors"] == [{"member": "alice", "items": 4},
                                      {"member": "bob", "items": 2}]
    assert report["hashes_per_hour"][0]["items"] == 6
    assert 0 <= report["seconds_to_first_hash"] <= report["seconds_to_conclusion"]
    assert report["members_acknowledging"] == 1
    assert report["acknowledgements"][0]["member"] == "bob"
    assert report["matches"] == 7 and report["blocks"] == 5
    assert report["situation_updates"] == 1
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "<script>" not in page.text
    assert "Attack in Example City" in page.text


def test_concurrent_acknowledgements_and_counts_of_one_member(crisis_hub: RunningHub) -> None:
    """Several processes of one member's node may acknowledge and report at the same moment:
    one acknowledgement on the timeline, the last counts kept, never a 500."""
    from concurrent.futures import ThreadPoolExecutor

    incident = declare(crisis_hub)

    def ack_and_count(index: int) -> tuple[int, int]:
        with crisis_hub.client("bob") as client:
            ack = client.post(f"/v1/incidents/{incident['id']}/ack").status_code
            counts = client.put(f"/v1/incidents/{incident['id']}/counts",
                                json={"matches": index, "blocks": 0}).status_code
        return ack, counts

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(ack_and_count, range(8)))
    assert answers == [(200, 200)] * 8
    kinds = [e["kind"] for e in crisis_hub.hub.incidents.get(
        crisis_hub.hub.authenticate(crisis_hub.tokens["admin"]), incident["id"])["timeline"]]
    assert kinds.count("ack") == 1
