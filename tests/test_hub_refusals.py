"""Refused requests (401, 403) against a real hub are audited: member when known, time,
what was tried, client address; never the token."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from cordon.hub.settings import HubSettings
from tests.test_hub_support import PDQ_A, RunningHub, hub, make_bank, serve

__all__ = ["hub"]


def refusals(hub: RunningHub) -> list[dict]:
    with hub.client("admin") as admin:
        records = admin.get("/v1/audit", params={"limit": 1000}).json()["records"]
    return [r for r in records if r["action"].startswith("request.")]


def test_unauthenticated_requests_are_audited_without_their_token(hub: RunningHub) -> None:
    started = datetime.now(UTC) - timedelta(seconds=1)
    wrong = "not-a-token-" + "x" * 30
    with hub.client() as anonymous:
        assert anonymous.get("/v1/feed").status_code == 401
        assert anonymous.get("/v1/banks", headers={"Authorization": f"Bearer {wrong}"}
                             ).status_code == 401
    records = refusals(hub)
    assert len(records) == 2
    for record in records:
        assert record["action"] == "request.unauthenticated"
        assert record["member"] is None
        assert record["client"] == "127.0.0.1"
        assert record["detail"]["status"] == 401
        assert datetime.fromisoformat(record["at"]) >= started
    assert {r["object"] for r in records} == {"GET /v1/feed", "GET /v1/banks"}
    assert wrong not in json.dumps(records)


def test_a_revoked_token_names_its_member(hub: RunningHub) -> None:
    token_id, token = hub.hub.issue_token("bob")
    hub.hub.revoke_token(token_id)
    with hub.client() as client:
        response = client.get("/v1/feed", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    (record,) = refusals(hub)
    assert (record["member"], record["detail"]["token_id"]) == ("bob", token_id)
    assert token not in json.dumps(record)


def test_forbidden_requests_are_audited_with_their_member(hub: RunningHub) -> None:
    make_bank(hub, "alice", "private", [])
    with hub.client("carol") as carol, hub.client("bob") as bob:
        # A reader writing.
        assert carol.post("/v1/banks", json={"name": "mine"}).status_code == 403
        # A bank not shared with the member (answered as if it did not exist).
        assert bob.post("/v1/banks/private/entries",
                        json={"entries": [{"signals": {"pdq": PDQ_A}}]}).status_code == 403
        # An admin-only read.
        assert bob.get("/v1/audit").status_code == 403
        # Hostile text in the path is kept as text.
        assert bob.get("/v1/banks/x';DROP TABLE hub_audit;--/export").status_code == 403
    records = refusals(hub)
    got = {(r["member"], r["object"]) for r in records}
    assert got == {
        ("carol", "POST /v1/banks"),
        ("bob", "POST /v1/banks/private/entries"),
        ("bob", "GET /v1/audit"),
        ("bob", "GET /v1/banks/x';DROP TABLE hub_audit;--/export"),
    }
    for record in records:
        assert record["action"] == "request.forbidden"
        assert record["detail"]["status"] == 403
        assert record["client"] == "127.0.0.1"
    reasons = {r["object"]: r["detail"]["reason"] for r in records}
    assert "is a reader" in reasons["POST /v1/banks"]
    # The record is as discreet as the answer: nothing says whether the bank exists.
    assert reasons["POST /v1/banks/private/entries"] == \
        "bank 'private' does not exist or is not shared with you"
    for member in ("alice", "bob", "carol", "admin"):
        assert hub.tokens[member] not in json.dumps(records)


def test_refusals_can_be_filtered_in_the_audit_log(hub: RunningHub) -> None:
    with hub.client("carol") as carol:
        carol.post("/v1/banks", json={"name": "mine"})
    with hub.client("admin") as admin:
        page = admin.get("/v1/audit", params={"action": "request.forbidden",
                                              "member": "carol"}).json()
    assert [r["object"] for r in page["records"]] == ["POST /v1/banks"]


def test_made_up_tokens_share_one_budget_per_address(database_url: str) -> None:
    settings = HubSettings(database_url=database_url, rate_limit=0.01, rate_burst=3)
    for running in serve(database_url, settings):
        running.add_member("admin", "admin")
        with running.client() as client:
            answers = [client.get("/v1/banks", headers={"Authorization": f"Bearer made-up-{i}"}
                                  ).status_code for i in range(5)]
            assert answers == [401, 401, 401, 429, 429]
            assert client.get("/v1/banks").status_code == 429  # no token: the same budget
        # A valid token keeps its own budget.
        with running.client("admin") as admin:
            records = admin.get("/v1/audit", params={"object": "GET /v1/banks"}).json()
        assert [r["action"] for r in records["records"]] == ["request.unauthenticated"] * 3
