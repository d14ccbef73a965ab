"""Hostile and malformed requests against a real hub: each gets a clear 4xx, nothing breaks,
and tokens never reach the logs."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from cordon.hub.settings import HubSettings
from tests.test_hub_support import PDQ_A, RunningHub, hub, make_bank, read_feed, serve

__all__ = ["hub"]

HOSTILE = ["'; DROP TABLE entries; --", "\" OR 1=1 --", "x') UNION SELECT digest FROM hub_tokens--",
           "<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "%_\\", "null"]


def test_malformed_json_and_unknown_fields(hub: RunningHub) -> None:
    make_bank(hub, "alice", "tcap", ["*"])
    with hub.client("alice") as alice:
        for body in (b"{", b"[1, 2", b"\xff\xfe", b"null", b'{"entries": "x"}'):
            response = alice.post("/v1/banks/tcap/entries", content=body,
                                  headers={"Content-Type": "application/json"})
            assert response.status_code == 422, body
        unknown = alice.post("/v1/banks/tcap/entries", json={
            "entries": [{"signals": {"pdq": PDQ_A}, "colour": "red"}]})
        assert unknown.status_code == 422
        assert unknown.json()["detail"][0]["loc"] == ["body", "entries", 0, "colour"]
        extra_top = alice.post("/v1/banks", json={"name": "b", "owner": "admin"})
        assert extra_top.status_code == 422
        assert alice.post("/v1/entries/1/feedback",
                          json={"verdict": "confirm", "weight": 9}).status_code == 422


def test_oversized_bodies_are_refused_while_read(database_url: str) -> None:
    settings = HubSettings(database_url=database_url, rate_limit=0, max_body_bytes=64 * 1024)
    for running in serve(database_url, settings):
        running.add_member("alice", "contributor")
        make_bank(running, "alice", "tcap", ["*"])
        item = b'{"signals": {"md5": "' + b"0" * 32 + b'"}},'
        big = b'{"entries": [' + item * 3000 + b"]}"
        with running.client("alice") as alice:
            declared = alice.post("/v1/banks/tcap/entries", content=big,
                                  headers={"Content-Type": "application/json"})
            assert declared.status_code == 413

            def chunks(body: bytes) -> Iterator[bytes]:  # no Content-Length: chunked
                for start in range(0, len(body), 4096):
                    yield body[start:start + 4096]

            chunked = alice.post("/v1/banks/tcap/entries", content=chunks(big),
                                 headers={"Content-Type": "application/json"})
            assert chunked.status_code == 413 and "larger than" in chunked.json()["detail"]
        # A client that lies about the length is cut off at the limit too.
        port = int(running.url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"POST /v1/banks/tcap/entries HTTP/1.1\r\nHost: x\r\n"
                         b"Authorization: Bearer " + running.tokens["alice"].encode() +
                         b"\r\nContent-Type: application/json\r\n"
                         b"Transfer-Encoding: chunked\r\n\r\n")
            sent = 0
            try:
                for _ in range(400):
                    sock.sendall(b"1000\r\n" + b" " * 4096 + b"\r\n")
                    sent += 4096
            except (BrokenPipeError, ConnectionResetError):
                pass  # the hub answered and closed the connection: what is tested
            assert sock.recv(100).startswith(b"HTTP/1.1 413")


def test_hostile_text_is_stored_and_returned_verbatim(hub: RunningHub) -> None:
    make_bank(hub, "alice", "tcap", ["*"])
    with hub.client("alice") as alice, hub.client("admin") as admin:
        entries = [{"signals": {"md5": f"{i:032x}"}, "labels": [f"tag:{text}"], "note": text}
                   for i, text in enumerate(HOSTILE)]
        # Incidents are numbered: hostile text in their place is refused, and stores nothing.
        for text in HOSTILE:
            refused = alice.post("/v1/banks/tcap/entries", json={"entries": [
                {"signals": {"md5": "f" * 32}, "incident": text}]})
            assert refused.status_code == 422, refused.text
        ids = alice.post("/v1/banks/tcap/entries", json={"entries": entries}).json()["ids"]
        for entry_id, text in zip(ids, HOSTILE, strict=True):
            alice.post(f"/v1/entries/{entry_id}/feedback",
                       json={"verdict": "disagree_label", "note": text})
            got = alice.get(f"/v1/entries/{entry_id}")
            assert got.headers["content-type"] == "application/json"
            body = got.json()
            assert (body["note"], body["labels"], body["incident"]) == \
                (text, [f"tag:{text}"], None)
        for text in HOSTILE:
            for path in (f"/v1/banks/{text}/entries", f"/v1/entries/{text}"):
                assert alice.get(path).status_code in (403, 404, 405, 422)
            response = admin.get("/v1/audit", params={"member": text, "action": text,
                                                      "object": text})
            assert response.status_code == 200 and response.json()["records"] == []
            expected = 201 if text.isalnum() else 422
            assert alice.post("/v1/banks", json={"name": text}).status_code == expected
        assert len(read_feed(alice)[0]) == len(HOSTILE)
        assert admin.get("/v1/stats").json()["entries"] == len(HOSTILE)


def test_rate_limit_per_token(database_url: str) -> None:
    settings = HubSettings(database_url=database_url, rate_limit=2, rate_burst=5)
    for running in serve(database_url, settings):
        running.add_member("alice", "contributor")
        running.add_member("bob", "contributor")
        with running.client("alice") as alice, running.client("bob") as bob:
            codes = [alice.get("/v1/banks").status_code for _ in range(8)]
            assert codes[:5] == [200] * 5 and codes[-1] == 429
            limited = alice.get("/v1/banks")
            assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
            assert bob.get("/v1/banks").status_code == 200  # another token, its own bucket
            time.sleep(0.6)
            assert alice.get("/v1/banks").status_code == 200


def test_tokens_never_reach_the_logs(database_url: str,
                                     caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    for running in serve(database_url):
        token = running.add_member("alice", "contributor")
        make_bank(running, "alice", "tcap", ["*"])
        with running.client("alice") as alice:
            alice.get("/v1/feed")
            alice.post("/v1/banks/tcap/entries", json={"entries": [{"signals": {"pdq": "zz"}}]})
            alice.get("/v1/nothing")
        with httpx.Client(base_url=running.url) as anonymous:
            anonymous.get("/v1/banks", headers={"Authorization": f"Bearer {token}x"})
            anonymous.get("/v1/banks", headers={"Authorization": "Bearer not-a-token"})
    assert "GET /v1/feed" in caplog.text  # the access log was captured
    assert token not in caplog.text and token[4:20] not in caplog.text
    assert "not-a-token" not in caplog.text
