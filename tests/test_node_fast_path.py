"""The node's request path without per-request database work: tokens from an in-memory cache
that still honours revocation promptly, and matches recorded many per transaction (each
response still waits for its own commit, and keeps its match id)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import orjson
import pytest
from sqlalchemy import Connection, func, insert, select

from cordon.errors import CordonError
from cordon.node.fast_match import FastMatch
from cordon.node.group_commit import GroupCommit
from cordon.node.roles import Principal
from cordon.node.service import Node
from cordon.node.settings import NodeSettings
from cordon.node.token_cache import TokenCache
from cordon.store import Store
from cordon.store.models import node_matches, node_state
from tests.test_hub_support import PDQ_A
from tests.test_node_support import RunningNode, serve_node

T = TypeVar("T")


@pytest.fixture()
def node(tmp_path: Path) -> Iterator[RunningNode]:
    yield from serve_node(f"sqlite:///{tmp_path / 'node.db'}", NodeSettings())


def status(node: RunningNode, token: str) -> int:
    with node.client(token) as client:
        return client.post("/v1/match", json={"signals": {"pdq": PDQ_A}}).status_code


def test_a_token_revoked_in_process_stops_at_once(node: RunningNode) -> None:
    token_id, token = node.node.create_token("short-lived")
    assert status(node, token) == 200  # created a moment ago: accepted
    assert status(node, token) == 200  # from the cache now
    node.node.revoke_token(token_id)
    assert status(node, token) == 401


def test_a_token_revoked_by_another_process_stops_within_the_cache_age(
        node: RunningNode, tmp_path: Path) -> None:
    token_id, token = node.node.create_token("elsewhere")
    assert status(node, token) == 200
    # `cordon node token revoke` runs in its own process, on the same database.
    with Store(f"sqlite:///{tmp_path / 'node.db'}") as other:
        Node(other).revoke_token(token_id)
    revoked_at = time.monotonic()
    # Whatever the cache loaded before the revocation is at most `age` old by now: the next
    # request reads the store again and is refused. (Timing the requests themselves would
    # measure the machine's load, not the cache.)
    age = node.node.settings.token_cache_seconds
    time.sleep(max(0.0, age - (time.monotonic() - revoked_at)) + 0.05)
    assert status(node, token) == 401


def test_the_token_cache_is_reloaded_ahead_while_requests_go_on(node: RunningNode) -> None:
    # A steady stream of requests: the cache is reloaded in the background once past half
    # its age, so it never goes stale under them (a stale cache sent every request of that
    # moment through a thread of its own to read the store).
    tokens = node.node.tokens
    load = tokens._load
    stale_at_load: list[bool] = []

    def watched() -> dict[str, Principal]:
        stale_at_load.append(not tokens.fresh())
        return load()

    tokens._load = watched  # type: ignore[method-assign]
    _, token = node.node.create_token("steady")
    assert status(node, token) == 200
    stale_at_load.clear()
    until = time.monotonic() + 3 * tokens.max_age
    with node.client(token) as client:
        while time.monotonic() < until:
            assert client.post("/v1/match", json={"signals": {"pdq": PDQ_A}}).status_code == 200
            time.sleep(0.02)
    assert len(stale_at_load) >= 2 and not any(stale_at_load)


def test_bad_tokens_do_not_read_the_store_each_time() -> None:
    loads: list[float] = []

    def load() -> dict[str, Principal]:
        loads.append(time.monotonic())
        return {}

    cache = TokenCache(load, max_age=60, min_reload=0.5)
    for i in range(200):
        assert cache.name(f"cdn_wrong{i}") is None
    assert len(loads) == 1


def test_group_commit_records_every_match_with_its_own_id(node: RunningNode) -> None:
    with node.client() as client:
        assert client.post("/v1/banks", json={"name": "own"}).status_code == 201
        assert client.post("/v1/banks/own/entries", json={"entries": [
            {"signals": {"pdq": PDQ_A}, "labels": []}]}).status_code == 201

    def one(_: int) -> list[int]:
        with node.client() as client:
            response = client.post("/v1/match", json={"signals": {"pdq": PDQ_A}})
            assert response.status_code == 200, response.text
            return [m["id"] for m in response.json()["matches"]]

    with ThreadPoolExecutor(16) as pool:
        ids = [i for found in pool.map(one, range(200)) for i in found]
    assert len(ids) == len(set(ids)) == 200
    with node.store.read() as conn:
        assert conn.execute(select(func.count()).select_from(node_matches)).scalar_one() == 200
    with node.client() as client:
        assert client.get(f"/v1/matches/{ids[-1]}").json()["bank"] == "own"


def gated_insert(gate: threading.Event, key: str) -> Callable[[Connection], str]:
    """A write that waits for `gate` (so that several queue up), then inserts `key`."""
    def work(conn: Connection) -> str:
        gate.wait(5)
        conn.execute(insert(node_state).values(key=key, value="v"))
        return key
    return work


def test_one_failing_write_does_not_fail_the_others_of_its_transaction(
        tmp_path: Path) -> None:
    with Store(f"sqlite:///{tmp_path / 'n.db'}") as store:
        group = GroupCommit(store.plain_write)
        gate = threading.Event()

        def write(key: str) -> str:
            return group.run(gated_insert(gate, key))

        with ThreadPoolExecutor(8) as pool:
            # "dup" twice: the second insert breaks the primary key of node_state.
            futures = [pool.submit(write, k) for k in ("a", "dup", "b", "dup", "c")]
            time.sleep(0.2)
            gate.set()
            outcomes = []
            for future in futures:
                try:
                    outcomes.append(future.result(10))
                except Exception as exc:  # the failing write gets its own error
                    outcomes.append(type(exc).__name__)
        group.close()
        assert outcomes.count("dup") == 1 and {"a", "b", "c"} <= set(outcomes)
        assert len([o for o in outcomes if o not in ("a", "b", "c", "dup")]) == 1
        with store.read() as conn:
            keys = set(conn.execute(select(node_state.c.key)).scalars())
        assert keys == {"a", "b", "c", "dup"}
        with pytest.raises(CordonError):
            group.run(lambda conn: None)


def on_own_loop(main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """`asyncio.run(main())` on a thread of its own: other tests of the session (the browser
    tests' synchronous API) may leave an event loop running on this thread."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(main())).result(60)


def test_coroutines_wait_for_their_own_commits_on_the_event_loop(tmp_path: Path) -> None:
    # run_async: the writer settles each caller's future on its loop; a failing write gets
    # its own error, and a caller that went away (cancelled) still has its write committed.
    with Store(f"sqlite:///{tmp_path / 'n.db'}") as store:
        group = GroupCommit(store.plain_write)
        gate = threading.Event()

        async def run() -> list[Any]:
            waits = [asyncio.ensure_future(group.run_async(gated_insert(gate, k)))
                     for k in ("a", "dup", "gone", "dup", "b")]
            await asyncio.sleep(0.05)
            assert not any(w.done() for w in waits)  # the loop runs while the writer waits
            waits[2].cancel()
            gate.set()
            return await asyncio.gather(*waits, return_exceptions=True)

        outcomes = on_own_loop(run)
        assert outcomes[0] == "a" and outcomes[4] == "b"
        assert isinstance(outcomes[2], asyncio.CancelledError)
        assert sorted(str(o) for o in (outcomes[1], outcomes[3]))[-1] == "dup"
        assert sum(isinstance(o, Exception) for o in (outcomes[1], outcomes[3])) == 1
        group.close()
        with store.read() as conn:
            assert set(conn.execute(select(node_state.c.key)).scalars()) == {
                "a", "b", "dup", "gone"}

        async def after_close() -> None:
            with pytest.raises(CordonError):
                await group.run_async(gated_insert(gate, "late"))

        on_own_loop(after_close)


def test_writers_sharing_a_lock_file_never_find_the_database_locked(tmp_path: Path) -> None:
    # Two writers, as two node processes have, on one SQLite file with no busy timeout: the
    # database's lock is never found taken (a taken lock is polled with sleeps), as the
    # writers take turns on the lock file first.
    url = f"sqlite:///{tmp_path / 'n.db'}"
    lock = str(tmp_path / "writes.lock")
    with Store(url) as first_store, Store(url, busy_timeout=0) as second_store:
        first, second = GroupCommit(first_store.plain_write), GroupCommit(second_store.plain_write)
        first.serialise_with(lock)
        second.serialise_with(lock)
        inside = threading.Event()

        def slow(conn: Connection) -> str:
            conn.execute(insert(node_state).values(key="first", value="v"))
            inside.set()
            time.sleep(0.3)  # holds the database's write lock meanwhile
            return "first"

        with ThreadPoolExecutor(1) as pool:
            held = pool.submit(first.run, slow)
            assert inside.wait(5)
            assert second.run(lambda conn: conn.execute(
                insert(node_state).values(key="second", value="v")).rowcount) == 1
            assert held.result(5) == "first"
        first.close()
        second.close()
        with first_store.read() as conn:
            assert set(conn.execute(select(node_state.c.key)).scalars()) == {"first", "second"}


def test_the_short_path_answers_as_the_full_path_does(node: RunningNode) -> None:
    body = {"signals": {"pdq": PDQ_A}}
    _, token = node.node.create_token("new")
    with node.client(token) as client:
        # Not in the token cache yet: the full path authenticates it (and reloads the cache).
        full = client.post("/v1/match", json=body)
        short = client.post("/v1/match", json=body)
    assert full.status_code == short.status_code == 200
    assert full.json() == short.json()
    assert short.json()["matches"] == short.json()["actions"] == []
    assert short.headers["content-type"] == full.headers["content-type"] == "application/json"
    with node.client() as client:
        for bad, code in (({"signals": {"pdq": "xyz"}}, 422), ({"signals": {}}, 422),
                          ({"signals": {"pdq": PDQ_A}, "extra": 1}, 422),
                          ({"signals": {f"s{i}": PDQ_A for i in range(17)}}, 422)):
            response = client.post("/v1/match", json=bad)
            assert response.status_code == code, (bad, response.text)
            assert "detail" in response.json()
        huge = b'{"signals": {"pdq": "' + b"0" * (5 << 20) + b'"}}'
        assert client.post("/v1/match", content=huge, headers={
            "Content-Type": "application/json"}).status_code == 413
    with node.client("cdn_not-a-token") as client:
        response = client.post("/v1/match", json=body)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"


def test_a_match_on_the_short_path_is_recorded_and_answered_as_on_the_full_path(
        node: RunningNode) -> None:
    with node.client() as client:
        assert client.post("/v1/banks", json={"name": "own"}).status_code == 201
        assert client.post("/v1/banks/own/entries", json={"entries": [
            {"signals": {"pdq": PDQ_A}, "labels": ["x:y"]}]}).status_code == 201
        assert client.post("/v1/rules", json={"name": "cut own", "action": "cut",
                                              "bank": "own"}).status_code == 201
    body = {"signals": {"pdq": PDQ_A}}
    token = node.token
    with node.client(token) as client:
        # Padded past the short path's body limit: the application answers.
        full = client.post("/v1/match", content=orjson.dumps(body) + b" " * 5000,
                           headers={"Content-Type": "application/json"})
        short = client.post("/v1/match", json=body)
    assert full.status_code == short.status_code == 200, (full.text, short.text)
    assert short.headers["content-type"] == "application/json"
    full_json, short_json = full.json(), short.json()
    assert full_json["actions"] and full_json["actions"] == short_json["actions"]
    ids = [m.pop("id") for m in full_json["matches"] + short_json["matches"]]
    assert full_json == short_json
    assert len(set(ids)) == 2  # each answer reports its own match record
    with node.client() as client:
        for match_id in ids:
            record = client.get(f"/v1/matches/{match_id}")
            assert record.status_code == 200 and record.json()["bank"] == "own"
    # The short path alone, before an application that takes nothing: the match is answered
    # and recorded without it.
    reached: list[str] = []

    async def application(scope: Any, receive: Any, send: Any) -> None:
        reached.append(scope["path"])

    # On a thread of its own: an earlier test of the suite may leave an event loop running on
    # this one.
    with ThreadPoolExecutor(1) as pool:
        sent = pool.submit(asyncio.run, call_asgi(FastMatch(application, node.node), token,
                                                  orjson.dumps(body))).result()
    assert reached == []
    assert sent[0]["status"] == 200
    answer = orjson.loads(sent[1]["body"])
    assert answer["actions"] == short_json["actions"]
    assert answer["matches"][0]["id"] not in ids
    with node.client() as client:
        assert client.get(f"/v1/matches/{answer['matches'][0]['id']}").status_code == 200


async def call_asgi(app: Any, token: str, body: bytes) -> list[dict[str, Any]]:
    scope = {"type": "http", "method": "POST", "path": "/v1/match", "headers": [
        (b"authorization", f"Bearer {token}".encode()),
        (b"content-type", b"application/json")]}
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Any) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


def test_a_failing_match_record_on_the_short_path_gets_the_documented_error(
        node: RunningNode) -> None:
    with node.client() as client:
        assert client.post("/v1/banks", json={"name": "own"}).status_code == 201
        assert client.post("/v1/banks/own/entries", json={"entries": [
            {"signals": {"pdq": PDQ_A}, "labels": []}]}).status_code == 201
        assert client.post("/v1/match", json={"signals": {"pdq": PDQ_A}}).status_code == 200
    node.node.match_log.close()  # what a shutting-down node does: no more records
    with node.client() as client:
        response = client.post("/v1/match", json={"signals": {"pdq": PDQ_A}})
        # Shaped by the application's handlers; never a reported match that was not kept.
        assert response.status_code >= 400 and "detail" in response.json()
        missed = client.post("/v1/match", json={"signals": {"pdq": "f" * 64}})
        assert missed.status_code == 200 and missed.json()["matches"] == []


def test_a_busy_index_does_not_stall_other_requests(node: RunningNode) -> None:
    with node.client() as client:
        assert client.post("/v1/match", json={"signals": {"pdq": PDQ_A}}).status_code == 200
    lock = node.node._lock
    with ThreadPoolExecutor(1) as pool, lock:
        waiting = pool.submit(lambda: node.client().post(
            "/v1/match", json={"signals": {"pdq": PDQ_A}}).status_code)
        time.sleep(0.3)
        with node.client() as client:
            assert client.get("/healthz").status_code == 200  # the event loop is free
        assert not waiting.done()
    assert waiting.result(10) == 200
