"""The node API over HTTP: tokens, matching by upload, URL and signals, hostile input, private
banks, rules and the match log, signed webhooks that survive a receiver that is down."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from cordon.node.settings import NodeSettings
from cordon.node.signing import verify
from tests.shared_data import CORPUS, require
from tests.test_hub_support import PDQ_A, free_port
from tests.test_node_support import RunningNode, serve_node, start_node, wait_for


@pytest.fixture()
def node(tmp_path: Path) -> Iterator[RunningNode]:
    settings = NodeSettings(max_upload_bytes=1 << 20, retry_base=0.2,
                            fetch_allow_networks=("127.0.0.1/32",))
    yield from serve_node(f"sqlite:///{tmp_path / 'node.db'}", settings)


def bank_with(node: RunningNode, pdq: str, labels: list[str]) -> int:
    with node.client() as client:
        assert client.post("/v1/banks", json={"name": "own"}).status_code in (201, 409)
        response = client.post("/v1/banks/own/entries", json={"entries": [
            {"signals": {"pdq": pdq}, "labels": labels}]})
        assert response.status_code == 201, response.text
        return int(response.json()["ids"][0])


def test_tokens_are_required(node: RunningNode) -> None:
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic eA=="}):
        with node.client() as client:
            response = client.post("/v1/match", json={"signals": {"pdq": PDQ_A}},
                                   headers=headers or {"Authorization": ""})
        assert response.status_code == 401, response.text
    with node.client() as client:
        assert client.get("/healthz").status_code == 200
        assert client.get("/readyz").status_code == 200
        assert "cordon_node_indexed_entries" in client.get("/metrics").text
        assert "/v1/match" in client.get("/openapi.json").json()["paths"]


def test_malformed_hashes_get_422(node: RunningNode) -> None:
    with node.client() as client:
        for body in ({"signals": {"pdq": "xyz"}}, {"signals": {"nosuch": "00"}},
                     {"signals": {}}, {"signals": {"pdq": PDQ_A}, "extra": 1},
                     {"signals": {"pdq": PDQ_A}, "url": "http://example.org/"}):
            response = client.post("/v1/match", json=body)
            assert response.status_code == 422, (body, response.text)
        assert client.post("/v1/match", content=b"{", headers={
            "Content-Type": "application/json"}).status_code == 422


def test_private_bank_rules_and_match_log(node: RunningNode) -> None:
    entry = bank_with(node, PDQ_A, ["behaviour:glorification"])
    with node.client() as client:
        block = client.post("/v1/rules", json={"name": "close", "action": "block",
                                               "labels": ["behaviour:*"], "max_distance": 10})
        assert block.status_code == 201, block.text
        client.post("/v1/rules", json={"name": "other bank", "action": "alert", "bank": "x"})
        assert client.post("/v1/rules", json={"name": "bad", "action": "zap"}).status_code == 422
        response = client.post("/v1/match", json={"signals": {"pdq": PDQ_A}}).json()
        [found] = response["matches"]
        assert found["entry"] == entry and found["bank"] == "own" and found["distance"] == 0
        assert [a["action"] for a in response["actions"]] == ["block"]
        record = client.get(f"/v1/matches/{found['id']}").json()
        assert record["rules"] == [block.json()["id"]] and record["actions"] == ["block"]
        assert record["signal_type"] == "pdq" and record["bank"] == "own"
        # A private entry's verdict stays on the node.
        verdict = client.post(f"/v1/matches/{found['id']}/feedback",
                              json={"verdict": "false_positive"})
        assert verdict.status_code == 200 and verdict.json()["verdict"] == "false_positive"
        assert client.delete(f"/v1/entries/{entry}").status_code == 200
        assert client.post("/v1/match", json={"signals": {"pdq": PDQ_A}}).json()[
            "matches"] == []


def test_upload_and_hash(node: RunningNode) -> None:
    image = require(CORPUS / "images") / "0001.jpg"  # a detailed picture (PDQ quality 100)
    with node.client() as client:
        hashed = client.post("/v1/hash", files={"file": ("a.jpg", image.read_bytes())})
        assert hashed.status_code == 200, hashed.text
        pdq = hashed.json()["signals"]["pdq"]["hash"]
    bank_with(node, pdq, [])
    with node.client() as client:
        response = client.post("/v1/match", files={"file": ("a.jpg", image.read_bytes())})
        assert response.status_code == 200, response.text
        assert [m["signal_type"] for m in response.json()["matches"]][:1] == ["pdq"]
        raw = client.post("/v1/match", content=image.read_bytes(),
                          headers={"Content-Type": "image/jpeg"})
        assert raw.json()["matches"]
        junk = client.post("/v1/match", files={"file": ("x.jpg", image.read_bytes()[:300])})
        assert junk.status_code == 422


def test_a_flat_picture_is_not_matched_by_pdq(node: RunningNode) -> None:
    # Flat pictures of any content hash alike (PDQ quality 3 here), so their PDQ is no
    # evidence: banked by PDQ alone, even the same file is not a match; its MD5 still is.
    image = require(CORPUS / "images") / "0000.jpg"
    with node.client() as client:
        signals = client.post("/v1/hash", files={"file": ("a.jpg", image.read_bytes())}
                              ).json()["signals"]
        assert signals["pdq"]["quality"] < 20
        assert client.post("/v1/banks", json={"name": "flat"}).status_code == 201
        created = client.post("/v1/banks/flat/entries", json={"entries": [
            {"signals": {"pdq": signals["pdq"]["hash"]}},
            {"signals": {"md5": signals["md5"]["hash"]}}]})
        assert created.status_code == 201, created.text
        _pdq_entry, md5_entry = created.json()["ids"]
        response = client.post("/v1/match", files={"file": ("a.jpg", image.read_bytes())})
        assert response.status_code == 200, response.text
        assert [(m["entry"], m["signal_type"]) for m in response.json()["matches"]] == [
            (md5_entry, "md5")]


def test_upload_with_a_mixed_case_multipart_boundary(node: RunningNode) -> None:
    # Browsers send boundaries like ----WebKitFormBoundaryAbCd; the parser must get them as sent.
    image = require(CORPUS / "images") / "0000.jpg"
    boundary = "----WebKitFormBoundaryAbCdEf123"
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n'
            "Content-Type: image/jpeg\r\n\r\n").encode()
    body += image.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
    with node.client() as client:
        response = client.post("/v1/hash", content=body, headers={
            "Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert response.status_code == 200, response.text
    assert len(response.json()["signals"]["pdq"]["hash"]) == 64


def test_oversized_upload_gets_413_without_reading_it_whole(node: RunningNode) -> None:
    import resource

    def body() -> Iterator[bytes]:
        yield (b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x\"\r\n"
               b"Content-Type: application/octet-stream\r\n\r\n")
        chunk = b"\0" * (1 << 20)
        for _ in range(200):  # 200 MiB, against a limit of 1 MiB
            yield chunk

    # The node runs in this process: its peak memory is this process's.
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    with node.client() as client:
        try:
            response = client.post("/v1/match", content=body(), headers={
                "Content-Type": "multipart/form-data; boundary=b"})
            assert response.status_code == 413, response.text
        except Exception as exc:  # the node may close the connection once it answered
            assert "disconnect" in str(exc).lower() or "reset" in str(exc).lower() or \
                "closed" in str(exc).lower(), exc
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak) / 1024
    assert grown_mib < 64


class Receiver:
    """A webhook receiver on loopback: refuses connections until started, then answers
    500 to the first `failures` deliveries."""

    def __init__(self, failures: int) -> None:
        self.port = free_port()
        self.failures = failures
        self.received: list[tuple[dict[str, str], bytes, int]] = []
        self.server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status = 500 if receiver.failures > 0 else 200
                receiver.failures -= 1
                receiver.received.append((dict(self.headers), body, status))
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def test_webhooks_survive_a_receiver_that_is_down_and_a_node_restart(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'node.db'}"
    settings = NodeSettings(retry_base=0.2, retry_max=0.5)
    receiver = Receiver(failures=2)
    secret = "s3cret-s3cret-s3cret"
    node = start_node(url, settings)
    try:
        entry = bank_with(node, PDQ_A, ["behaviour:glorification"])
        with node.client() as client:
            hook = client.post("/v1/webhooks", json={
                "url": f"http://127.0.0.1:{receiver.port}/hook", "secret": secret,
                "events": ["match"]}).json()
            for _ in range(3):
                assert client.post("/v1/match", json={"signals": {"pdq": PDQ_A}}).json()[
                    "matches"][0]["entry"] == entry
            # The receiver is down: the deliveries wait, recorded.
            wait_for(lambda: all(d["attempts"] >= 1 for d in client.get(
                f"/v1/webhooks/{hook['id']}/deliveries").json()["deliveries"]), 5)
    finally:
        node.stop()
        node.store.close()
    # The node restarts; the receiver comes up, answering 500 twice at first.
    receiver.start()
    node = start_node(url, settings)
    try:
        with node.client() as client:
            wait_for(lambda: all(d["status"] == "delivered" for d in client.get(
                f"/v1/webhooks/{hook['id']}/deliveries").json()["deliveries"]), 10)
            deliveries = client.get(f"/v1/webhooks/{hook['id']}/deliveries").json()[
                "deliveries"]
            assert secret not in client.get("/v1/webhooks").text
        time.sleep(0.5)
        accepted = [(h, b) for h, b, status in receiver.received if status == 200]
        assert len(deliveries) == 3 and len(accepted) == 3
        assert len({h["X-Cordon-Delivery"] for h, _ in accepted}) == 3
        for headers, body in accepted:
            assert verify(secret, headers["X-Cordon-Timestamp"], body,
                          headers["X-Cordon-Signature"])
            assert json.loads(body)["matches"][0]["entry"] == entry
        assert not verify("wrong-secret-value", accepted[0][0]["X-Cordon-Timestamp"],
                          accepted[0][1], accepted[0][0]["X-Cordon-Signature"])
    finally:
        node.stop()
        node.store.close()
        receiver.stop()


class Redirector(BaseHTTPRequestHandler):
    target = "http://169.254.169.254/latest/meta-data/"

    def do_GET(self) -> None:
        if self.path == "/image":
            data = (require(CORPUS / "images") / "0000.jpg").read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        self.send_response(302)
        self.send_header("Location", self.target if self.path == "/meta" else
                         "http://127.0.0.2/")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_url_fetches_refuse_private_addresses_even_after_redirects(node: RunningNode) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Redirector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with node.client() as client:
            fetched = client.post("/v1/hash", json={"url": f"{base}/image"})
            assert fetched.status_code == 200, fetched.text
            for path in ("/meta", "/loop"):
                response = client.post("/v1/match", json={"url": base + path})
                assert response.status_code == 422, response.text
                assert "private or local address" in response.json()["detail"]
            for bad in ("file:///etc/passwd", "ftp://127.0.0.1/x", "http://10.1.2.3/x",
                        "http://[::1]/x"):
                response = client.post("/v1/match", json={"url": bad})
                assert response.status_code == 422, (bad, response.text)
    finally:
        server.shutdown()
        server.server_close()
