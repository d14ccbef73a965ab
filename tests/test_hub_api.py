"""The hub API over real HTTP, on SQLite and PostgreSQL: banks and sharing, contributions,
withdrawals, feedback, the feed, audit, statistics, import/export."""

from __future__ import annotations

import base64

from tests.test_hub_support import (
    MD5_A,
    PDQ_A,
    PDQ_B,
    RunningHub,
    hub,
    make_bank,
    read_feed,
)

__all__ = ["hub"]


def test_service_endpoints_need_no_token(hub: RunningHub) -> None:
    with hub.client() as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        assert client.get("/readyz").json() == {"status": "ready"}
        spec = client.get("/openapi.json").json()
        assert "/v1/feed" in spec["paths"] and "/v1/stream" in spec["paths"]
        assert client.get("/docs").status_code == 200
        client.get("/v1/banks")
        assert "cordon_hub_requests" in client.get("/metrics").text


def test_tokens_are_checked(hub: RunningHub) -> None:
    with hub.client() as client:
        missing = client.get("/v1/banks")
        wrong = client.get("/v1/banks", headers={"Authorization": "Bearer cdh_nope"})
        basic = client.get("/v1/banks", headers={"Authorization": "Basic YWxpY2U6eA=="})
    assert {missing.status_code, wrong.status_code, basic.status_code} == {401}
    assert missing.headers["www-authenticate"] == "Bearer"
    token_id, token = hub.hub.issue_token("alice")
    with hub.client() as client:
        headers = {"Authorization": f"Bearer {token}"}
        assert client.get("/v1/banks", headers=headers).status_code == 200
        hub.hub.revoke_token(token_id)
        revoked = client.get("/v1/banks", headers=headers)
    assert revoked.status_code == 401 and "revoked" in revoked.json()["detail"]


def test_sharing_hides_banks_and_their_existence(hub: RunningHub) -> None:
    make_bank(hub, "alice", "open", ["*"])
    make_bank(hub, "alice", "private", [])
    make_bank(hub, "alice", "with-bob", ["bob"])
    with hub.client("bob") as bob, hub.client("carol") as carol, hub.client("admin") as admin:
        assert [b["name"] for b in bob.get("/v1/banks").json()["banks"]] == ["open", "with-bob"]
        assert [b["name"] for b in carol.get("/v1/banks").json()["banks"]] == ["open"]
        assert len(admin.get("/v1/banks").json()["banks"]) == 3
        entry = {"entries": [{"signals": {"pdq": PDQ_A}}]}
        hidden = bob.post("/v1/banks/private/entries", json=entry)
        absent = bob.post("/v1/banks/nothing/entries", json=entry)
        assert hidden.status_code == absent.status_code == 403
        assert hidden.json()["detail"].replace("private", "X") == \
            absent.json()["detail"].replace("nothing", "X")
        for path in ("/v1/banks/private/export", "/v1/banks/nothing/export"):
            assert bob.get(path).status_code == 403
        # A reader cannot write, even where it can read.
        denied = carol.post("/v1/banks/open/entries", json=entry)
        assert denied.status_code == 403 and "reader" in denied.json()["detail"]
        assert carol.post("/v1/banks", json={"name": "mine"}).status_code == 403
        assert bob.post("/v1/banks/with-bob/entries", json=entry).status_code == 200
        # Entries of a hidden bank are hidden too.
        ids = hub.client("alice").post("/v1/banks/private/entries", json=entry).json()["ids"]
        assert bob.get(f"/v1/entries/{ids[0]}").status_code == 403
        assert bob.post(f"/v1/entries/{ids[0]}/feedback",
                        json={"verdict": "confirm"}).status_code == 403
        assert [e["bank"] for e in read_feed(bob)[0]] == ["with-bob"]
        assert bob.post("/v1/banks", json={"name": "x", "shared_with": ["nobody"]}
                        ).status_code == 422


def declare_incident(hub: RunningHub, bank: str) -> int:
    with hub.client("admin") as admin:
        response = admin.post("/v1/incidents", json={"level": "pci", "title": "Attack",
                                                     "bank": bank})
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def test_contribute_is_ordered_idempotent_and_validated(hub: RunningHub) -> None:
    make_bank(hub, "alice", "tcap", ["*"])
    incident = declare_incident(hub, "tcap")
    body = {"entries": [
        {"signals": {"pdq": PDQ_B}, "labels": ["behaviour:glorification"]},
        {"signals": {"pdq": PDQ_A, "md5": MD5_A}, "labels": ["entity:example-group"],
         "content_type": "image", "incident": incident, "note": "first seen on a forum"},
    ]}
    with hub.client("alice") as alice, hub.client("bob") as bob:
        ids = alice.post("/v1/banks/tcap/entries", json=body).json()["ids"]
        assert len(set(ids)) == 2
        assert alice.post("/v1/banks/tcap/entries", json=body).json()["ids"] == ids
        swapped = {"entries": body["entries"][::-1]}
        assert bob.post("/v1/banks/tcap/entries", json=swapped).json()["ids"] == ids[::-1]
        # Same signal in another entry of the batch: the same entry, labels merged.
        again = {"entries": [{"signals": {"md5": MD5_A.upper()}, "labels": ["tag:seen-again"]}]}
        assert bob.post("/v1/banks/tcap/entries", json=again).json()["ids"] == [ids[1]]
        entry = alice.get(f"/v1/entries/{ids[1]}").json()
        assert entry["signals"] == {"md5": MD5_A, "pdq": PDQ_A}
        # An entry of an incident carries the incident's label.
        assert entry["labels"] == ["entity:example-group", f"incident:{incident}",
                                   "tag:seen-again"]
        assert (entry["incident"], entry["contributor"], entry["content_type"]) == \
            (str(incident), "alice", "image")
        bad = alice.post("/v1/banks/tcap/entries", json={"entries": [
            {"signals": {"pdq": PDQ_A}},
            {"signals": {"pdq": PDQ_A[:-2]}},
            {"signals": {"md5": "xyz"}},
            {"signals": {"nosuch": "ab"}},
            {"signals": {"pdq": PDQ_B}, "labels": ["behaviour:dancing"]},
        ]})
        assert bad.status_code == 422
        locs = [e["loc"] for e in bad.json()["detail"]]
        assert locs == [["body", "entries", 1, "signals", "pdq"],
                        ["body", "entries", 2, "signals", "md5"],
                        ["body", "entries", 3, "signals", "nosuch"],
                        ["body", "entries", 4, "labels", 0]]
        assert "hex" in bad.json()["detail"][1]["msg"]
        assert alice.post("/v1/banks/tcap/entries", json={"entries": []}).status_code == 422
        too_many = {"entries": [{"signals": {"md5": f"{i:032x}"}} for i in range(10_001)]}
        assert alice.post("/v1/banks/tcap/entries", json=too_many).status_code == 422


def test_withdraw_feedback_and_the_feed(hub: RunningHub) -> None:
    make_bank(hub, "alice", "tcap", ["*"])
    with hub.client("alice") as alice, hub.client("bob") as bob, \
            hub.client("carol") as carol, hub.client("admin") as admin:
        ids = alice.post("/v1/banks/tcap/entries", json={"entries": [
            {"signals": {"md5": f"{i:032x}"}} for i in range(5)]}).json()["ids"]
        entries, cursor = read_feed(carol, limit=2)
        assert [e["id"] for e in entries] == ids
        assert read_feed(carol, cursor)[0] == []
        # Withdrawal: not by another contributor; by the owner or an admin; tombstones follow.
        assert bob.delete(f"/v1/entries/{ids[0]}").status_code == 403
        assert carol.delete(f"/v1/entries/{ids[0]}").status_code == 403
        assert alice.delete(f"/v1/entries/{ids[0]}").json()["changed"] is True
        assert alice.delete(f"/v1/entries/{ids[0]}").json()["changed"] is False
        assert admin.delete(f"/v1/entries/{ids[1]}").status_code == 200
        assert alice.delete("/v1/entries/999999").status_code == 403
        changed, cursor = read_feed(carol, cursor)
        assert [(e["id"], e["withdrawn"]) for e in changed] == [(ids[0], True), (ids[1], True)]
        assert changed[0]["signals"] == {"md5": f"{0:032x}"}
        # Feedback: one verdict per member, latest wins; two false positives -> disputed.
        target = ids[2]
        assert bob.post(f"/v1/entries/{target}/feedback",
                        json={"verdict": "false_positive"}).json()["disputed"] is False
        bob.post(f"/v1/entries/{target}/feedback", json={"verdict": "confirm"})
        result = carol.post(f"/v1/entries/{target}/feedback",
                            json={"verdict": "false_positive", "note": "a film still"}).json()
        assert result["feedback"] == {"confirm": 1, "false_positive": 1, "disagree_label": 0}
        assert result["disputed"] is False
        bob.post(f"/v1/entries/{target}/feedback", json={"verdict": "false_positive"})
        changed, cursor = read_feed(carol, cursor)
        assert [e["id"] for e in changed] == [target]
        assert changed[0]["disputed"] is True
        assert changed[0]["feedback"]["false_positive"] == 2
        # Followers may skip disputed entries: they arrive without signals, to be dropped.
        skipped = {e["id"]: e for e in read_feed(carol, skip_disputed=True)[0]}
        assert skipped[target]["signals"] == {} and skipped[target]["disputed"] is True
        assert skipped[ids[3]]["signals"] == {"md5": f"{3:032x}"}
        assert bob.post(f"/v1/entries/{target}/feedback",
                        json={"verdict": "maybe"}).status_code == 422


def test_cursor_errors(hub: RunningHub) -> None:
    make_bank(hub, "alice", "tcap", ["*"])
    with hub.client("carol") as carol:
        for bad in ("garbage", "!!!", base64.urlsafe_b64encode(b"c1.-4").decode(), "x" * 99):
            response = carol.get("/v1/feed", params={"cursor": bad})
            assert response.status_code == 400 and "malformed cursor" in response.json()["detail"]
        future = base64.urlsafe_b64encode(b"c1.99999999").decode().rstrip("=")
        response = carol.get("/v1/feed", params={"cursor": future})
        assert response.status_code == 409 and "ahead" in response.json()["detail"]
        assert carol.get("/v1/stream", params={"cursor": future}).status_code == 409
        assert carol.get("/v1/feed", params={"limit": 0}).status_code == 422


def test_audit_and_statistics(hub: RunningHub) -> None:
    make_bank(hub, "alice", "tcap", ["*"])
    incident = declare_incident(hub, "tcap")
    with hub.client("alice") as alice, hub.client("admin") as admin:
        ids = alice.post("/v1/banks/tcap/entries", json={"entries": [
            {"signals": {"pdq": PDQ_A, "md5": MD5_A}, "labels": ["behaviour:glorification"],
             "incident": incident},
            {"signals": {"pdq": PDQ_B}}]}).json()["ids"]
        alice.delete(f"/v1/entries/{ids[1]}")
        admin.post(f"/v1/entries/{ids[0]}/feedback", json={"verdict": "confirm"})
        read_feed(alice)
        assert alice.get("/v1/audit").status_code == 403
        records = admin.get("/v1/audit").json()["records"]
        actions = [r["action"] for r in records]
        for action in ("bank.create", "entries.contribute", "entry.withdraw", "entry.feedback",
                       "feed.read"):
            assert action in actions
        withdraw = next(r for r in records if r["action"] == "entry.withdraw")
        assert (withdraw["member"], withdraw["object"], withdraw["client"]) == \
            ("alice", f"entry:{ids[1]}", "127.0.0.1")
        only = admin.get("/v1/audit", params={"member": "alice", "action": "feed.read"}).json()
        assert {(r["member"], r["action"]) for r in only["records"]} == {("alice", "feed.read")}
        page = admin.get("/v1/audit", params={"limit": 2}).json()
        older = admin.get("/v1/audit", params={"limit": 2, "before": page["next"]}).json()
        assert max(r["id"] for r in older["records"]) < min(r["id"] for r in page["records"])
        stats = alice.get("/v1/stats").json()
    assert (stats["entries"], stats["live"], stats["withdrawn"]) == (2, 1, 1)
    assert stats["by_signal_type"] == {"md5": 1, "pdq": 1}
    assert stats["by_label"] == {"behaviour:glorification": 1, f"incident:{incident}": 1}
    assert stats["by_contributor"] == {"alice": 2}
    assert stats["by_incident"] == {str(incident): 1}
    assert stats["feedback"]["confirm"] == 1
    (month,) = stats["by_month"].values()
    assert month == {"contributed": 2, "withdrawn": 1, "feedback": 1}


def test_import_and_export_through_the_api(hub: RunningHub) -> None:
    make_bank(hub, "alice", "tcap", ["*"])
    lines = f"pdq {PDQ_A}\nmd5 {MD5_A}\npdq nothex\n".encode()
    with hub.client("alice") as alice, hub.client("carol") as carol:
        summary = alice.post("/v1/banks/tcap/import", content=lines,
                             headers={"Content-Type": "text/plain"}).json()
        assert (summary["format"], summary["created"], summary["skipped"]) == ("lines", 2, 1)
        jsonl = carol.get("/v1/banks/tcap/export", params={"format": "jsonl"})
        assert jsonl.status_code == 200 and len(jsonl.text.splitlines()) == 2
        back = alice.post("/v1/banks/tcap/import", params={"format": "jsonl"},
                          content=jsonl.content).json()
        assert (back["created"], back["unchanged"]) == (0, 2)
        tagged = alice.post("/v1/banks/tcap/import", content=(
            '{"signals": {"pdq": "' + PDQ_B + '"}, "labels": ["hate symbol"]}\n').encode()).json()
        assert tagged["created"] == 1 and tagged["warnings"] == 1
        assert carol.post("/v1/banks/tcap/import", content=lines).status_code == 403
        entries = read_feed(carol)[0]
        assert {"tag:hate symbol"} in [set(e["labels"]) for e in entries]
        assert {e["contributor"] for e in entries} == {"alice"}
