"""The node's live streams over HTTP: a real stream published on loopback, alerts through
the rules (a `cut` rule), the match log and signed `live_match` webhooks; refused URLs, bad
requests, and a burst of start requests past the capacity."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from benchmarks._streams import Composed, LiveHttpServer, Part, SilentServer, compose_stream
from cordon.hashing import hash_file
from cordon.live.monitor import THREAD_PREFIX
from cordon.node.settings import NodeSettings
from cordon.node.signing import verify
from cordon.signals import get_signal_type
from tests.shared_data import CORPUS, INTEROP, require
from tests.test_node_api import Receiver
from tests.test_node_support import RunningNode, serve_node, wait_for

BANKED = "chair-orig-22-sd-bar.mp4"
SECRET = "live-secret-live-secret"


@pytest.fixture(scope="module")
def restream(tmp_path_factory: pytest.TempPathFactory) -> Composed:
    banked = require(INTEROP / "video" / BANKED)
    bikes, bunny = require(CORPUS / "videos" / "bikes.mp4"), CORPUS / "videos" / "bigbuckbunny.mp4"
    out = tmp_path_factory.mktemp("node-streams")
    return compose_stream(out / "restream.ts", [
        Part(bikes, 3), Part(banked, 4, start=6, disguise=True), Part(bunny, 3)],
        size=(480, 270), preset="ultrafast", gop_seconds=1.0)


@pytest.fixture(scope="module")
def banked_vpdq() -> str:
    signal = get_signal_type("vpdq")
    result = hash_file(require(INTEROP / "video" / BANKED), [signal])
    assert result.error is None
    return str(signal.format(result.signals["vpdq"]))


def settings(**changes: Any) -> NodeSettings:
    base: dict[str, Any] = {"retry_base": 0.2, "stream_allow_networks": ("127.0.0.1/32",),
                            "stream_timeout": 3.0, "stream_max_reconnects": 0,
                            "stream_max": 4}
    return NodeSettings(**{**base, **changes})


@pytest.fixture()
def node(tmp_path: Path) -> Iterator[RunningNode]:
    yield from serve_node(f"sqlite:///{tmp_path / 'node.db'}", settings())


def live_threads() -> list[str]:
    return [t.name for t in threading.enumerate()
            if t.name.startswith(THREAD_PREFIX) and not t.name.endswith("watchdog")]


@pytest.fixture()
def node_on_each_backend(database_url: str) -> Iterator[RunningNode]:
    yield from serve_node(database_url, settings())


@pytest.mark.slow
def test_alert_on_a_live_flv_stream_goes_through_rules_log_and_webhook(
    node_on_each_backend: RunningNode, restream: Composed, banked_vpdq: str
) -> None:
    node = node_on_each_backend
    receiver = Receiver(failures=0)
    receiver.start()
    try:
        with node.client() as client, LiveHttpServer() as server:
            assert client.post("/v1/banks", json={"name": "own"}).status_code == 201
            created = client.post("/v1/banks/own/entries", json={"entries": [
                {"signals": {"vpdq": banked_vpdq}, "labels": ["attack-footage"]}]})
            assert created.status_code == 201, created.text
            entry = created.json()["ids"][0]
            rule = client.post("/v1/rules", json={"name": "cut attacks", "action": "cut",
                                                  "labels": ["attack-footage"]})
            assert rule.status_code == 201, rule.text
            hook = client.post("/v1/webhooks", json={
                "url": f"http://127.0.0.1:{receiver.port}/hook", "secret": SECRET,
                "events": ["live_match"]})
            assert hook.status_code == 201, hook.text
            on_air = time.time() + 0.5
            url = server.add("live.flv", restream.path, fmt="flv", on_air=on_air, once=True)
            started = client.post("/v1/streams", json={"url": url,
                                                       "labels": ["attack-*"]})
            assert started.status_code == 201, started.text
            stream = started.json()
            assert stream["url"] == url and stream["labels"] == ["attack-*"]

            def alerts() -> list[dict[str, Any]]:
                events = client.get(f"/v1/streams/{stream['id']}/events").json()["events"]
                return [e for e in events if e["event"] == "alert"]

            wait_for(alerts, 20, step=0.1)
            detected = time.time()
            [alert] = alerts()
            assert alert["entry"] == entry and alert["bank"] == "own"
            assert alert["labels"] == ["attack-footage"] and alert["signal_type"] == "vpdq"
            assert [a["action"] for a in alert["actions"]] == ["cut"]
            assert 5.0 <= alert["ref_seconds"] <= 10.5
            banked_at = on_air + restream.span(BANKED.removesuffix(".mp4"))[0]
            assert detected - banked_at < 5.0

            listed = client.get("/v1/streams").json()
            [state] = listed["streams"]
            assert listed["capacity"] == 4
            assert state["frames_decoded"] > 0 and state["frames_hashed"] > 0
            assert state["lag_seconds"] >= 0 and state["stalled"] is False
            assert [m["entry"] for m in state["matches"]] == [entry]
            record = client.get(f"/v1/matches/{alert['match_id']}").json()
            assert record["actions"] == ["cut"] and record["rules"] == [rule.json()["id"]]
            assert record["source"] == f"stream {stream['id']} {url}"

            wait_for(lambda: receiver.received, 10, step=0.1)
            headers, body, _ = receiver.received[0]
            assert headers["X-Cordon-Event"] == "live_match"
            assert verify(SECRET, headers["X-Cordon-Timestamp"], body,
                          headers["X-Cordon-Signature"])
            delivered = json.loads(body)
            assert delivered["kind"] == "alert" and delivered["stream"]["id"] == stream["id"]
            assert delivered["actions"][0]["action"] == "cut"
            assert delivered["match"]["entry"] == entry

            wait_for(lambda: client.get(f"/v1/streams/{stream['id']}").json()["state"]
                     == "ended", 20, step=0.2)
            assert client.delete(f"/v1/streams/{stream['id']}").status_code == 204
            assert client.get("/v1/streams").json()["streams"] == []
            assert client.get(f"/v1/streams/{stream['id']}").status_code == 404
    finally:
        receiver.stop()
    assert live_threads() == []


def test_labels_filter_what_a_stream_is_watched_for(
    node: RunningNode, restream: Composed, banked_vpdq: str
) -> None:
    with node.client() as client, LiveHttpServer() as server:
        client.post("/v1/banks", json={"name": "own"})
        client.post("/v1/banks/own/entries", json={"entries": [
            {"signals": {"vpdq": banked_vpdq}, "labels": ["attack-footage"]}]})
        url = server.add("live.ts", restream.path, once=True)
        stream = client.post("/v1/streams", json={"url": url, "labels": ["other"]}).json()
        wait_for(lambda: client.get(f"/v1/streams/{stream['id']}").json()["state"]
                 in ("ended", "error"), 30, step=0.2)
        events = client.get(f"/v1/streams/{stream['id']}/events").json()["events"]
        assert events[0]["event"] == "started"
        assert not [e for e in events if e["event"] in ("alert", "progress")]
        assert client.get(f"/v1/streams/{stream['id']}").json()["frames_hashed"] > 10


def test_refused_urls_and_bad_requests(node: RunningNode, tmp_path: Path) -> None:
    refusals = {
        "file:///etc/passwd": "unsupported stream protocol 'file'",
        "/etc/passwd": "unsupported stream protocol 'none'",
        "-": "unsupported stream protocol 'none'",
        "gopher://example.org/": "unsupported stream protocol 'gopher'",
        "tcp://127.0.0.1:9000?listen=1": "unsupported stream protocol 'tcp'",
        "srt://127.0.0.1:9000?mode=listener": "does not listen",
        "rtmp://127.0.0.1:1935/live?listen=1": "does not listen",
        "rtmp:///live": "names no host",
        "http://127.0.0.1:99999/x.ts": "invalid port",
        "http://nosuchhost.invalid/x.ts": "cannot resolve",
        "http://10.1.2.3/live.ts": "private or local address 10.1.2.3",
        "http://[::ffff:192.168.0.1]/live.ts": "private or local address",
        "rtsp://169.254.169.254/latest": "private or local address 169.254.169.254",
    }
    with node.client() as client:
        for url, reason in refusals.items():
            response = client.post("/v1/streams", json={"url": url})
            assert response.status_code == 422, (url, response.text)
            assert reason in response.json()["detail"], (url, response.text)
        for body in ({}, {"url": ""}, {"url": "http://127.0.0.1/x", "extra": 1},
                     {"url": "http://127.0.0.1/x", "labels": "a"},
                     {"url": "http://127.0.0.1/x", "labels": [""]},
                     {"url": "http://127.0.0.1/x", "webhook": "one"},
                     {"url": "x" * 5000}):
            assert client.post("/v1/streams", json=body).status_code == 422, body
        unknown = client.post("/v1/streams", json={"url": "http://127.0.0.1:1/x.ts",
                                                   "webhook": 999})
        assert unknown.status_code == 422 and "no webhook with id 999" in unknown.text
        assert client.get("/v1/streams/s999").status_code == 404
        assert client.delete("/v1/streams/s999").status_code == 404
        assert client.get("/v1/streams/s999/events").status_code == 404
        assert client.get("/v1/streams").json()["streams"] == []
    with node.client(token="nope") as client:
        assert client.get("/v1/streams").status_code == 401
        assert client.post("/v1/streams", json={"url": "http://127.0.0.1/x"}
                           ).status_code == 401
    from cordon.node.moderation.access import create_token

    for role, status in (("reviewer", 403), ("flagger", 403), ("service", 200)):
        _, token = create_token(node.node, role, role)
        with node.client(token=token) as client:
            assert client.get("/v1/streams").status_code == status, role


def test_private_addresses_are_refused_unless_their_network_is_allowed(
        tmp_path: Path) -> None:
    for running in serve_node(f"sqlite:///{tmp_path / 'node.db'}",
                              settings(stream_allow_networks=())):
        with running.client() as client:
            response = client.post("/v1/streams", json={"url": "http://127.0.0.1:8080/x.ts"})
            assert response.status_code == 422
            assert "private or local address 127.0.0.1" in response.json()["detail"]


def test_unreachable_stream_ends_in_error(node: RunningNode) -> None:
    from benchmarks._streams import free_port

    with node.client() as client:
        stream = client.post("/v1/streams", json={
            "url": f"http://127.0.0.1:{free_port()}/live.ts"}).json()
        wait_for(lambda: client.get(f"/v1/streams/{stream['id']}").json()["state"]
                 == "error", 15, step=0.1)
        state = client.get(f"/v1/streams/{stream['id']}").json()
        assert "connection refused" in state["message"].lower()
        assert client.delete(f"/v1/streams/{stream['id']}").status_code == 204


def test_a_burst_of_start_requests_past_the_capacity(tmp_path: Path) -> None:
    silent = SilentServer()
    # Streams that stay connecting for the whole burst (a silent server, a long timeout).
    running = serve_node(f"sqlite:///{tmp_path / 'node.db'}", settings(stream_timeout=20.0))
    try:
        node = next(running)
        with node.client() as client:
            def start(_: int) -> int:
                return client.post("/v1/streams", json={"url": silent.url}).status_code

            with ThreadPoolExecutor(32) as pool:
                codes = list(pool.map(start, range(1000)))
            assert codes.count(201) == 4 and codes.count(503) == 996, set(codes)
            refused = client.post("/v1/streams", json={"url": silent.url})
            assert "the limit of this monitor (max streams 4)" in refused.json()["detail"]
            streams = client.get("/v1/streams").json()["streams"]
            assert len(streams) == 4 and len(live_threads()) == 4
            started = time.monotonic()
            for stream in streams:
                assert client.delete(f"/v1/streams/{stream['id']}").status_code == 204
            assert time.monotonic() - started < 8
            assert client.get("/v1/streams").json()["streams"] == []
            # Still connecting (FFmpeg cannot be interrupted while it opens): they end within
            # the open timeout, and count against the capacity until they have.
            if live_threads():
                assert client.post("/v1/streams", json={"url": silent.url}
                                   ).status_code == 503
            wait_for(lambda: not live_threads(), 25, step=0.2)
            again = client.post("/v1/streams", json={"url": silent.url})
            assert again.status_code == 201
            assert client.delete(f"/v1/streams/{again.json()['id']}").status_code == 204
    finally:
        running.close()
        silent.close()


@pytest.mark.slow
def test_cordon_watch_on_a_node(restream: Composed, banked_vpdq: str, tmp_path: Path) -> None:
    from tests.test_live_streams import cordon

    db = f"sqlite:///{tmp_path / 'unused.db'}"
    # The stream goes on air a few seconds from now, once the command has started (a loaded
    # machine takes seconds to start Python); the node waits for it meanwhile.
    running = serve_node(f"sqlite:///{tmp_path / 'node.db'}", settings(stream_timeout=20.0))
    node = next(running)
    with contextlib.closing(running), node.client() as client, LiveHttpServer() as server:
        client.post("/v1/banks", json={"name": "own"})
        entry = client.post("/v1/banks/own/entries", json={"entries": [
            {"signals": {"vpdq": banked_vpdq}, "labels": ["attack-footage"]}]}).json()["ids"][0]
        url = server.add("live.ts", restream.path, once=True, on_air=time.time() + 8)
        code, out, err = cordon(db, "watch", url, "--node", node.url, "--token", node.token,
                                "--format", "json", timeout=60)
        assert code == 0, err
        lines = [json.loads(line) for line in out.splitlines()]
        alerts = [x for x in lines if x["event"] == "alert"]
        assert len(alerts) == 1, lines
        alert = alerts[0]
        assert alert["entry"] == entry and alert["stream"] == url
        assert lines[0]["event"] == "started" and lines[-1]["event"] == "ended"
        # The command stopped the stream on the node when it had ended.
        assert client.get("/v1/streams").json()["streams"] == []

        code, out, err = cordon(db, "watch", "http://10.0.0.1/live.ts", "--node", node.url,
                                "--token", node.token)
        assert code == 2 and out == ""
        assert err.strip().endswith("private or local address 10.0.0.1; such streams are "
                                    "not watched") and len(err.strip().splitlines()) == 1
        code, _, err = cordon(db, "watch", url, "--node", node.url, "--token", "wrong")
        assert code == 2 and "401" in err and "invalid or revoked token" in err
        code, _, err = cordon(db, "watch", url, "--node", node.url)
        assert code == 2 and "--token" in err


def test_an_entry_banked_while_a_stream_is_watched_is_matched(
    node: RunningNode, restream: Composed, banked_vpdq: str
) -> None:
    with node.client() as client, LiveHttpServer() as server:
        client.post("/v1/banks", json={"name": "own"})
        url = server.add("live.ts", restream.path, once=True, on_air=time.time() + 2)
        stream = client.post("/v1/streams", json={"url": url}).json()
        wait_for(lambda: client.get(f"/v1/streams/{stream['id']}").json()["state"] == "live",
                 10, step=0.05)
        # The banked clip comes on air 3 s into the stream; the entry arrives before it.
        entry = client.post("/v1/banks/own/entries", json={"entries": [
            {"signals": {"vpdq": banked_vpdq}, "labels": ["attack-footage"]}]}).json()["ids"][0]
        wait_for(lambda: client.get(f"/v1/streams/{stream['id']}").json()["state"]
                 in ("ended", "error"), 30, step=0.2)
        events = client.get(f"/v1/streams/{stream['id']}/events").json()["events"]
        assert [e["entry"] for e in events if e["event"] == "alert"] == [entry], events
