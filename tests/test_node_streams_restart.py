"""Live streams outlive a node restart: the streams a node watched when it stopped are
watched again, under the same ids, when it starts on the same store; streams stopped through
the API or that ended in error are not. Real streams on loopback, on each backend."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from sqlalchemy import insert, select

from benchmarks._streams import Composed, LiveHttpServer, Part, compose_stream, free_port
from cordon.node.service import Node
from cordon.node.settings import NodeSettings
from cordon.node.streams import StreamService
from cordon.store import Store
from cordon.store.stream_models import node_streams
from cordon.store.types import utcnow
from tests.shared_data import CORPUS, INTEROP, require
from tests.test_node_streams import BANKED, banked_vpdq  # noqa: F401 - fixture
from tests.test_node_support import RunningNode, start_node, wait_for


@pytest.fixture(scope="module")
def long_restream(tmp_path_factory: pytest.TempPathFactory) -> Composed:
    """Unrelated footage long enough to outlive a restart, then the banked clip."""
    banked = require(INTEROP / "video" / BANKED)
    bikes, bunny = require(CORPUS / "videos" / "bikes.mp4"), CORPUS / "videos" / "bigbuckbunny.mp4"
    out = tmp_path_factory.mktemp("node-streams-restart")
    return compose_stream(out / "long.ts", [
        Part(bikes, 5), Part(bunny, 5), Part(bikes, 5, start=5),
        Part(banked, 4, start=6, disguise=True), Part(bunny, 3, start=5)],
        size=(480, 270), preset="ultrafast", gop_seconds=1.0)


def settings(**changes: Any) -> NodeSettings:
    base: dict[str, Any] = {"retry_base": 0.2, "stream_allow_networks": ("127.0.0.1/32",),
                            "stream_timeout": 3.0, "stream_max_reconnects": 0,
                            "stream_max": 4}
    return NodeSettings(**{**base, **changes})


def state(node: RunningNode, stream_id: str) -> str:
    with node.client() as client:
        return str(client.get(f"/v1/streams/{stream_id}").json()["state"])


def stored(node: RunningNode) -> dict[str, Any]:
    with node.store.read() as conn:
        return {f"s{row.id}": row for row in conn.execute(select(node_streams)).all()}


@pytest.mark.slow
def test_watched_streams_are_resumed_after_a_restart(
    database_url: str, long_restream: Composed, banked_vpdq: str  # noqa: F811
) -> None:
    with LiveHttpServer() as server:
        live_url = server.add("live.ts", long_restream.path)
        first = start_node(database_url, settings())
        try:
            with first.client() as client:
                assert client.post("/v1/banks", json={"name": "own"}).status_code == 201
                created = client.post("/v1/banks/own/entries", json={"entries": [
                    {"signals": {"vpdq": banked_vpdq}, "labels": ["attack-footage"]}]})
                assert created.status_code == 201, created.text
                hook = client.post("/v1/webhooks", json={
                    "url": "http://127.0.0.1:9/hook", "secret": "s" * 20,
                    "events": ["incident"]}).json()["id"]
                kept = client.post("/v1/streams", json={
                    "url": live_url, "labels": ["attack-*"], "webhook": hook}).json()
                stopped = client.post("/v1/streams", json={"url": live_url}).json()
                failed = client.post("/v1/streams", json={
                    "url": f"http://127.0.0.1:{free_port()}/gone.ts"}).json()
                wait_for(lambda: state(first, kept["id"]) == "live", 15, step=0.1)
                wait_for(lambda: state(first, failed["id"]) == "error", 15, step=0.1)
                assert client.delete(f"/v1/streams/{stopped['id']}").status_code == 204
        finally:
            first.stop()
            first.store.close()

        rows = stored(first)
        # A shutdown is not an end: the stream is still to be watched.
        assert rows[kept["id"]].ended_at is None
        assert rows[stopped["id"]].end_state == "stopped"
        assert rows[failed["id"]].end_state == "error"
        assert "refused" in rows[failed["id"]].end_message.lower()

        second = start_node(database_url, settings())
        try:
            with second.client() as client:
                def listed() -> list[dict[str, Any]]:
                    return client.get("/v1/streams").json()["streams"]

                wait_for(listed, 10, step=0.1)
                [resumed] = listed()
                assert resumed["id"] == kept["id"] and resumed["url"] == live_url
                assert resumed["labels"] == ["attack-*"] and resumed["webhook"] == hook
                assert resumed["resumed_at"] is not None
                assert resumed["started_at"] == kept["started_at"]

                # Really watched again: the banked clip in the stream is found.
                def alerts() -> list[dict[str, Any]]:
                    events = client.get(f"/v1/streams/{kept['id']}/events").json()["events"]
                    return [e for e in events if e["event"] == "alert"]

                wait_for(alerts, 30, step=0.2)
                assert alerts()[0]["bank"] == "own"

                # New streams do not reuse the ids of stored ones.
                another = client.post("/v1/streams", json={"url": live_url})
                assert another.status_code == 201, another.text
                assert another.json()["id"] not in {kept["id"], stopped["id"], failed["id"]}
                assert client.delete(f"/v1/streams/{kept['id']}").status_code == 204
                assert client.delete(f"/v1/streams/{another.json()['id']}").status_code == 204
        finally:
            second.stop()
            second.store.close()
        assert all(row.ended_at is not None for row in stored(second).values())


def test_a_refused_start_keeps_nothing(database_url: str) -> None:
    node = start_node(database_url, settings(stream_max=1))
    try:
        with node.client() as client, LiveHttpServer() as server:
            url = server.add("loop.ts", require(CORPUS / "videos" / "bikes.mp4"))
            assert client.post("/v1/streams", json={"url": "file:///etc/passwd"}
                               ).status_code == 422
            assert client.post("/v1/streams", json={"url": url, "webhook": 999}
                               ).status_code == 422
            first = client.post("/v1/streams", json={"url": url})
            assert first.status_code == 201
            assert client.post("/v1/streams", json={"url": url}).status_code == 503
            assert list(stored(node)) == [first.json()["id"]]
            assert client.delete(f"/v1/streams/{first.json()['id']}").status_code == 204
    finally:
        node.stop()
        node.store.close()


def test_resume_waits_for_leadership(database_url: str) -> None:
    """With several processes, only the leading one resumes the stored streams; one that can
    no longer be watched is ended with the reason instead of being tried at every start."""
    with Store(database_url) as store:
        node = Node(store, settings(stream_allow_networks=()))
        with node.plain_write() as conn:
            conn.execute(insert(node_streams).values(
                url=f"http://127.0.0.1:{free_port()}/gone.ts", labels=[],
                started_at=utcnow()))
        service = StreamService(node)
        leading = threading.Event()
        service.start(leading)
        try:
            time.sleep(1.0)
            assert service.list() == []
            with store.read() as conn:
                assert conn.execute(select(node_streams.c.ended_at)).scalar_one() is None
            leading.set()

            def ended() -> Any:
                with store.read() as conn:
                    return conn.execute(select(node_streams)).one().ended_at

            wait_for(ended, 10, step=0.1)
            with store.read() as conn:
                row = conn.execute(select(node_streams)).one()
            assert row.end_state == "error"
            assert "not resumed after a restart" in row.end_message
            assert "private" in row.end_message or "not watched" in row.end_message
            assert service.list() == []
        finally:
            service.stop()
