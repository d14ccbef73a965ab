"""Moderation end to end over real HTTP: a user files a report through the form, it is
matched and prioritised, a reviewer decides, the affected user reads the statement of reasons
and appeals, the appeal goes to another reviewer, and the transparency report counts it all."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.test_moderation_support import (
    ModerationNode,
    pdq_of,
    photo,
    report_form,
    serve_moderation,
)


@pytest.fixture()
def mod(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
        ) -> Iterator[ModerationNode]:
    yield from serve_moderation(database_url, tmp_path / "moderation", monkeypatch)


def test_report_review_statement_appeal_transparency(mod: ModerationNode) -> None:
    known, unknown = photo(1), photo(2)
    with mod.client("admin") as admin:
        assert admin.post("/v1/banks", json={"name": "own"}).status_code == 201
        added = admin.post("/v1/banks/own/entries", json={"entries": [
            {"signals": {"pdq": pdq_of(mod, known)}, "labels": ["behaviour:glorification"]}]})
        assert added.status_code == 201, added.text

    # Two reports: one of unknown content first, then one of known content.
    other = report_form(mod, unknown)
    assert other.status_code == 201, other.text
    filed = report_form(mod, known, reporter_name="A. Reporter",
                        reporter_email="a@example.org", account="user-7")
    assert filed.status_code == 201, filed.text
    ack = filed.json()
    assert ack["tracking_id"].startswith("R-") and ack["matched"] and ack["status"] == "open"
    with mod.client() as public:
        status = public.get(f"/v1/reports/{ack['tracking_id']}")
        assert status.status_code == 200 and status.json()["case"] == ack["case"]

    # The known content comes first in the queue, with the match evidence.
    with mod.client("alice") as alice:
        items = alice.get("/v1/queue", params={"tz": "Europe/Berlin"}).json()["items"]
        assert [i["id"] for i in items][:2] == [ack["case"], other.json()["case"]]
        assert items[0]["priority"] > items[1]["priority"] and items[0]["matched"]
        case = alice.get(f"/v1/cases/{ack['case']}").json()
        [evidence] = case["matches"]
        assert evidence["bank"] == "own" and evidence["distance"] == 0
        assert evidence["labels"] == ["behaviour:glorification"]
        blurred = alice.get(f"/v1/cases/{ack['case']}/preview")
        revealed = alice.get(f"/v1/cases/{ack['case']}/preview", params={"reveal": "true"})
        assert blurred.status_code == revealed.status_code == 200
        assert blurred.headers["content-type"] == "image/jpeg"
        assert blurred.content != revealed.content
        decided = alice.post(f"/v1/cases/{ack['case']}/decision", json={
            "action": "remove", "labels": ["behaviour:glorification"], "ground": "law",
            "note": "known attack footage"})
        assert decided.status_code == 201, decided.text
        decision = decided.json()
        assert decision["strike"] and decision["preservation"]
        code = decision["statement"]["notice_code"]
        again = alice.post(f"/v1/cases/{ack['case']}/decision", json={"action": "remove"})
        assert again.status_code == 409

    with mod.client() as public:
        status = public.get(f"/v1/reports/{ack['tracking_id']}").json()
        assert status["status"] == "decided" and status["outcome"] == "remove"
    with mod.client("platform") as platform:
        live = platform.get("/v1/accounts/user-7/live-eligibility").json()
        assert live["eligible"] is False and live["suspended_until"]

    # The affected user reads the statement and appeals.
    with mod.client() as user:
        notice = user.get(f"/v1/notices/{code}").json()
        statement = notice["statement"]
        assert statement["restriction"] == "remove" and statement["automated_detection"]
        assert statement["ground"] == "law" and notice["can_appeal"]
        appealed = user.post(f"/v1/notices/{code}/appeal",
                             json={"explanation": "this is news reporting"})
        assert appealed.status_code == 201, appealed.text
        assert user.post(f"/v1/notices/{code}/appeal",
                         json={"explanation": "again"}).status_code == 409
        assert user.get("/v1/notices/N-wrong").status_code == 404
    appeal_case = appealed.json()["case"]

    # The appeal goes to another reviewer than the one who decided.
    with mod.client("alice") as alice, mod.client("bob") as bob:
        assert appeal_case not in [i["id"] for i in alice.get("/v1/queue").json()["items"]]
        bob_items = bob.get("/v1/queue", params={"kind": "appeal"}).json()["items"]
        assert [i["id"] for i in bob_items] == [appeal_case]
        assert bob_items[0]["seconds_left"] > 13 * 86400
        own = alice.post(f"/v1/cases/{appeal_case}/decision", json={"action": "reverse"})
        assert own.status_code == 403, own.text
        reversed_ = bob.post(f"/v1/cases/{appeal_case}/decision",
                             json={"action": "reverse", "note": "documentation"})
        assert reversed_.status_code == 201, reversed_.text
        assert reversed_.json()["reinstated"] and reversed_.json()["strikes_revoked"] == 1
    with mod.client("platform") as platform:
        assert platform.get("/v1/accounts/user-7/live-eligibility").json()["eligible"]
    with mod.client() as user:
        notice = user.get(f"/v1/notices/{code}").json()
        assert notice["statement"]["reversed_at"] and notice["appeals"][0]["status"] == "reversed"

    # Statements export in the DSA Transparency Database layout.
    with mod.client("admin") as admin:
        assert admin.get("/v1/statements/export/dsa",
                         params={"territory": "DE,Narnia"}).status_code == 422
        [record] = admin.get("/v1/statements/export/dsa",
                             params={"territory": "DE,at"}).json()["statements"]
        assert record["territorial_scope"] == ["DE", "AT"]
        assert record["decision_visibility"] == ["DECISION_VISIBILITY_CONTENT_REMOVED"]
        assert record["decision_ground"] == "DECISION_GROUND_ILLEGAL_CONTENT"
        assert record["source_type"] == "SOURCE_ARTICLE_16"
        assert record["automated_detection"] == "Yes"
        assert record["content_type"] == ["CONTENT_TYPE_IMAGE"]
        year = int(decision["decided_at"][:4])
    with mod.client() as public:
        report = public.get(f"/v1/transparency/{year}").json()
    assert report["notices"]["received"] == 2 and report["notices"]["handled"] == 1
    assert report["removals"]["by_detection"] == {"hash match": 1}
    assert report["removals"]["by_label"] == {"behaviour:glorification": 1}
    assert report["appeals"] == {"received": 1, "reversed": 1, "upheld": 0, "open": 0}
    assert report["accuracy"]["confirmed"] == 1
    assert report["decisions"]["human"] == 2


def test_review_matches_are_queued_once_under_concurrent_syncs(mod: ModerationNode) -> None:
    import threading

    from cordon.node.moderation import queue

    pdq = pdq_of(mod, photo(5))
    with mod.client("admin") as admin:
        admin.post("/v1/banks", json={"name": "own"})
        admin.post("/v1/banks/own/entries", json={"entries": [
            {"signals": {"pdq": pdq}, "labels": ["behaviour:incitement"]}]})
        admin.post("/v1/rules", json={"name": "look", "action": "review"})
        for _ in range(20):
            assert admin.post("/v1/match", json={"signals": {"pdq": pdq}}).status_code == 200
    opened: list[int] = []
    threads = [threading.Thread(target=lambda: opened.append(queue.sync_review_matches(mod.ctx)))
               for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with mod.client("alice") as alice:
        items = alice.get("/v1/queue", params={"limit": 100}).json()["items"]
    assert len(items) == 20 and {i["kind"] for i in items} == {"match"}
    assert sum(opened) <= 20


def test_decisions_and_appeal_outcomes_reach_the_platform_by_webhook(
        mod: ModerationNode) -> None:
    import json

    from cordon.node.signing import verify
    from tests.test_node_api import Receiver
    from tests.test_node_support import wait_for

    receiver = Receiver(failures=0)
    receiver.start()
    secret = "decision-secret-123"
    try:
        with mod.client("admin") as admin:
            hook = admin.post("/v1/webhooks", json={
                "url": f"http://127.0.0.1:{receiver.port}/hook", "secret": secret,
                "events": ["decision"]})
            assert hook.status_code == 201, hook.text
        filed = report_form(mod, photo(9), account="user-3").json()
        with mod.client("alice") as alice:
            decided = alice.post(f"/v1/cases/{filed['case']}/decision",
                                 json={"action": "remove"}).json()
        code = decided["statement"]["notice_code"]
        with mod.client() as user:
            appeal = user.post(f"/v1/notices/{code}/appeal", json={"explanation": "no"}).json()
        with mod.client("bob") as bob:
            assert bob.post(f"/v1/cases/{appeal['case']}/decision",
                            json={"action": "reverse"}).status_code == 201
        wait_for(lambda: len(receiver.received) >= 2, 15)
        events = []
        for headers, body, _status in receiver.received:
            lowered = {k.lower(): v for k, v in headers.items()}
            assert lowered["x-cordon-event"] == "decision"
            assert verify(secret, lowered["x-cordon-timestamp"], body,
                          lowered["x-cordon-signature"])
            events.append(json.loads(body))
        removal, reversal = sorted(events, key=lambda e: e["decision"])
        assert removal["action"] == "remove" and removal["account"] == "user-3"
        assert removal["subject"] == "upload.jpg" and removal["statement"]
        assert reversal["reinstate"] is True and reversal["appealed_case"] == filed["case"]
    finally:
        receiver.stop()
