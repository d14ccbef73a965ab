"""Changing a bank's description and sharing (`PATCH /v1/banks/{bank}`, `cordon hub
update-bank`) against a real hub: who sees what afterwards in the bank list, the feed and the
stream, the audit record, and bad requests."""

from __future__ import annotations

import json
import queue
import threading

import httpx
import pytest

from tests.test_bank_cli import cordon
from tests.test_hub_security import HOSTILE
from tests.test_hub_support import MD5_A, PDQ_A, PDQ_B, RunningHub, hub, make_bank, read_feed

__all__ = ["hub"]


def contribute(hub: RunningHub, bank: str, *md5s: str) -> list[int]:
    with hub.client("alice") as alice:
        response = alice.post(f"/v1/banks/{bank}/entries", json={"entries": [
            {"signals": {"md5": value}} for value in md5s]})
        assert response.status_code == 200, response.text
        return response.json()["ids"]  # type: ignore[no-any-return]


def patch(hub: RunningHub, bank: str, body: dict, member: str = "admin") -> httpx.Response:
    with hub.client(member) as client:
        return client.patch(f"/v1/banks/{bank}", json=body)


def bank_names(hub: RunningHub, member: str) -> list[str]:
    with hub.client(member) as client:
        return [b["name"] for b in client.get("/v1/banks").json()["banks"]]


def test_a_member_given_access_finds_the_earlier_entries_after_its_cursor(
        hub: RunningHub) -> None:
    make_bank(hub, "alice", "private", [])
    make_bank(hub, "alice", "open", ["*"])
    early = contribute(hub, "private", "1" * 32, "2" * 32)
    contribute(hub, "open", "3" * 32)
    with hub.client("bob") as bob:
        seen, cursor = read_feed(bob)
        assert [e["bank"] for e in seen] == ["open"]
        assert bob.get(f"/v1/entries/{early[0]}").status_code == 403

        response = patch(hub, "private", {"shared_with": ["bob"]})
        assert response.status_code == 200, response.text
        assert response.json()["shared_with"] == ["bob"]
        assert response.json()["renumbered"] == 2
        assert "private" in bank_names(hub, "bob")
        later, cursor = read_feed(bob, cursor)
        # The bank's entries in their order, each once; the cursor kept its promise.
        assert [e["id"] for e in later] == early
        assert bob.get(f"/v1/entries/{early[0]}").status_code == 200
        assert read_feed(bob, cursor)[0] == []
    # Sharing with someone who already sees the bank renumbers nothing.
    assert patch(hub, "private", {"shared_with": ["bob", "alice"]}).json()["renumbered"] == 0
    assert patch(hub, "open", {"shared_with": ["bob"]}).json()["renumbered"] == 0


def test_a_member_that_loses_access_sees_no_later_change(hub: RunningHub) -> None:
    make_bank(hub, "alice", "tcap", ["*"])
    first = contribute(hub, "tcap", MD5_A)
    with hub.client("carol") as carol:
        seen, cursor = read_feed(carol)
        assert [e["id"] for e in seen] == first
        response = patch(hub, "tcap", {"shared_with": []})
        assert response.status_code == 200 and response.json()["renumbered"] == 0
        assert "tcap" not in bank_names(hub, "carol")
        assert "tcap" in bank_names(hub, "alice")  # the owner always sees its bank
        contribute(hub, "tcap", "f" * 32)
        assert read_feed(carol, cursor)[0] == []
        assert carol.get(f"/v1/entries/{first[0]}").status_code == 403
        assert carol.post(f"/v1/entries/{first[0]}/feedback",
                          json={"verdict": "confirm"}).status_code == 403


def test_open_streams_follow_the_new_sharing(hub: RunningHub) -> None:
    make_bank(hub, "alice", "tcap", ["*"])
    make_bank(hub, "alice", "other", ["*"])
    (first,) = contribute(hub, "tcap", MD5_A)
    events: queue.Queue[tuple[int, str]] = queue.Queue()

    def follow(response: httpx.Response) -> None:
        try:
            for line in response.iter_lines():
                if line.startswith("data:"):
                    entry = json.loads(line[5:])
                    events.put((entry["id"], entry["bank"]))
        except httpx.HTTPError:
            pass  # closed at the end of the test

    def next_event() -> tuple[int, str]:
        return events.get(timeout=10)

    with hub.client("carol", timeout=httpx.Timeout(10, read=30)) as carol, \
            carol.stream("GET", "/v1/stream") as response:
        threading.Thread(target=follow, args=(response,), daemon=True).start()
        assert next_event() == (first, "tcap")
        assert patch(hub, "tcap", {"shared_with": []}).status_code == 200
        (hidden,) = contribute(hub, "tcap", "a" * 32)
        (shown,) = contribute(hub, "other", "b" * 32)
        assert next_event() == (shown, "other")
        assert patch(hub, "tcap", {"shared_with": ["carol"]}).json()["renumbered"] == 2
        assert {next_event(), next_event()} == {(first, "tcap"), (hidden, "tcap")}
        assert events.empty()


def test_description_changes_and_the_audit_record(hub: RunningHub) -> None:
    make_bank(hub, "alice", "tcap", ["bob"])
    response = patch(hub, "tcap", {"description": "  Christchurch  "})
    assert response.status_code == 200
    assert (response.json()["description"], response.json()["shared_with"]) == \
        ("Christchurch", ["bob"])
    assert patch(hub, "tcap", {"description": None}).json()["description"] is None
    patch(hub, "tcap", {"shared_with": ["*", "carol"]})
    with hub.client("admin") as admin:
        records = admin.get("/v1/audit", params={"action": "bank.update"}).json()["records"]
    assert [r["object"] for r in records] == ["bank:tcap"] * 3
    assert all(r["member"] == "admin" and r["client"] == "127.0.0.1" for r in records)
    assert records[0]["detail"]["shared_with"] == {"before": ["bob"], "after": ["*"]}
    assert records[2]["detail"]["description"] == "Christchurch"


def test_hostile_text_in_a_description_is_kept_verbatim(hub: RunningHub) -> None:
    make_bank(hub, "alice", "tcap", ["*"])
    for text in HOSTILE:
        response = patch(hub, "tcap", {"description": text})
        assert response.status_code == 200 and response.json()["description"] == text
    with hub.client("alice") as alice:
        assert alice.get("/v1/banks").json()["banks"][0]["description"] == HOSTILE[-1]


@pytest.mark.parametrize(("member", "bank", "body", "status"), [
    ("alice", "tcap", {"shared_with": []}, 403),          # the owner, not an admin
    ("carol", "tcap", {"shared_with": ["carol"]}, 403),   # a reader
    ("admin", "nope", {"shared_with": []}, 403),          # no such bank
    ("admin", "tcap", {"shared_with": ["nobody"]}, 422),  # no such member
    ("admin", "tcap", {}, 422),                           # nothing to change
    ("admin", "tcap", {"owner": "bob"}, 422),             # unknown field
    ("admin", "tcap", {"shared_with": "bob"}, 422),       # not a list
    ("admin", "tcap", {"description": "x" * 100_000}, 422),
])
def test_bad_requests_change_nothing(hub: RunningHub, member: str, bank: str, body: dict,
                                     status: int) -> None:
    make_bank(hub, "alice", "tcap", ["bob"])
    response = patch(hub, bank, body, member)
    assert response.status_code == status, response.text
    assert response.json()["detail"]
    with hub.client("alice") as alice:
        (listed,) = alice.get("/v1/banks").json()["banks"]
    assert (listed["shared_with"], listed["description"]) == (["bob"], None)
    with hub.client() as anonymous:
        assert anonymous.patch("/v1/banks/tcap", json={"shared_with": []}).status_code == 401


def test_the_command_line(capsys: pytest.CaptureFixture[str], hub: RunningHub) -> None:
    make_bank(hub, "alice", "tcap", [])
    contribute(hub, "tcap", MD5_A)
    with hub.client("alice") as alice:
        alice.post("/v1/banks/tcap/entries", json={"entries": [
            {"signals": {"pdq": PDQ_A}}, {"signals": {"pdq": PDQ_B}}]})
    admin = ["--hub", hub.url, "--token", hub.tokens["admin"]]
    code, out, _ = cordon(capsys, "hub", "update-bank", "tcap", "--share", "bob", *admin)
    assert code == 0
    assert out == "bank tcap: shared with bob; 3 entries sent to the feed again\n"
    code, out, _ = cordon(capsys, "hub", "update-bank", "tcap", "--owner-only",
                          "--description", "TCAP alerts", "--format", "json", *admin)
    assert code == 0
    changed = json.loads(out)
    assert (changed["shared_with"], changed["description"], changed["renumbered"]) == \
        ([], "TCAP alerts", 0)
    code, _, err = cordon(capsys, "hub", "update-bank", "tcap", "--owner-only", "--share",
                          "bob", *admin)
    assert code == 2 and err.count("\n") == 1
    code, _, err = cordon(capsys, "hub", "update-bank", "tcap", *admin)
    assert code == 2 and "nothing to change" in err
    code, _, err = cordon(capsys, "hub", "update-bank", "tcap", "--share", "*",
                          "--hub", hub.url, "--token", hub.tokens["bob"])
    assert code == 1 and "403" in err and err.count("\n") == 1
