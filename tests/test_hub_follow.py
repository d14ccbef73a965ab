"""Following the hub while many members write at once: a follower that keeps its cursor sees
every entry, withdrawal and feedback change, each change once (feed and stream), on SQLite
and PostgreSQL."""

from __future__ import annotations

import json
import random
import threading
import time
from collections import defaultdict
from typing import Any

import httpx
import pytest

from tests.test_hub_support import MD5_A, RunningHub, hub, make_bank, read_feed

__all__ = ["hub"]

WRITERS = 8
OPS = 25


def _writer(hub: RunningHub, member: str, number: int, acked: dict[str, Any],
            errors: list[str]) -> None:
    rng = random.Random(number)
    mine: list[int] = []
    with hub.client(member) as client:
        for op in range(OPS):
            try:
                choice = rng.random()
                if choice < 0.6 or not mine:
                    batch = [{"signals": {"md5": f"{number:08x}{op:08x}{k:016x}"}}
                             for k in range(rng.randint(1, 4))]
                    response = client.post("/v1/banks/tcap/entries", json={"entries": batch})
                    response.raise_for_status()
                    ids = response.json()["ids"]
                    mine.extend(ids)
                    acked["created"].update(ids)
                elif choice < 0.75:
                    target = mine.pop(rng.randrange(len(mine)))
                    client.delete(f"/v1/entries/{target}").raise_for_status()
                    acked["withdrawn"].add(target)
                else:
                    target = rng.choice(sorted(acked["created"]))
                    verdict = rng.choice(["confirm", "false_positive", "disagree_label"])
                    client.post(f"/v1/entries/{target}/feedback",
                                json={"verdict": verdict}).raise_for_status()
                    acked["feedback"].add(target)
            except httpx.HTTPError as exc:
                errors.append(f"{member}: {exc}")


def _poll(client: httpx.Client, stop: threading.Event, seen: list[dict]) -> None:
    cursor = None
    while True:
        done = stop.is_set()
        entries, cursor = read_feed(client, cursor, limit=7)
        seen.extend(entries)
        if done:
            return
        time.sleep(0.005)


def _stream(hub: RunningHub, seen: list[dict], until: list[str], ready: threading.Event,
            errors: list[str]) -> None:
    last = None
    try:
        with hub.client("carol", timeout=httpx.Timeout(30, read=15)) as client, \
                client.stream("GET", "/v1/stream") as response:
            ready.set()
            data = None
            for line in response.iter_lines():
                # Heartbeats let the reader stop once it is past the last change.
                if line.startswith(":") and until and last == until[0]:
                    return
                if line.startswith("data:"):
                    data = json.loads(line[5:].strip())
                elif line.startswith("id:"):
                    last = line[3:].strip()
                elif line == "" and data is not None:
                    seen.append(data)
                    data = None
                    if until and last == until[0]:
                        return
    except httpx.HTTPError as exc:
        errors.append(f"stream: {exc!r} after {last}")


def test_concurrent_writers_and_followers_never_miss_a_change(hub: RunningHub) -> None:
    make_bank(hub, "admin", "tcap", ["*"])
    members = ["alice", "bob"] + [f"writer{i}" for i in range(WRITERS - 2)]
    for name in members[2:]:
        hub.add_member(name, "contributor")
    acked: dict[str, set[int]] = defaultdict(set)
    errors: list[str] = []
    polled: list[dict] = []
    streamed: list[dict] = []
    stop = threading.Event()
    final_cursor: list[str] = []
    stream_ready = threading.Event()
    follower = hub.client("carol")
    threads = [threading.Thread(target=_poll, args=(follower, stop, polled)),
               threading.Thread(target=_stream,
                                args=(hub, streamed, final_cursor, stream_ready, errors))]
    for thread in threads:
        thread.start()
    assert stream_ready.wait(10)
    writers = [threading.Thread(target=_writer, args=(hub, m, i, acked, errors))
               for i, m in enumerate(members)]
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join()
    stop.set()
    threads[0].join(60)
    with hub.client("admin") as admin:
        reference, _ = read_feed(admin)
        final_cursor.append(reference[-1]["change"])
    threads[1].join(60)
    follower.close()
    assert not errors
    assert acked["created"] and acked["withdrawn"] and acked["feedback"]
    final = {e["id"]: e for e in reference}
    for name, seen in (("feed", polled), ("stream", streamed)):
        changes = [e["change"] for e in seen]
        assert len(changes) == len(set(changes)), f"{name}: a change was delivered twice"
        state = {}
        for entry in seen:
            state[entry["id"]] = entry
        assert set(state) == set(final) == acked["created"], f"{name}: entries missed"
        mismatched = [i for i in final if state[i] != final[i]]
        assert not mismatched, f"{name}: stale entries {mismatched[:5]}"
        assert {i for i, e in state.items() if e["withdrawn"]} == acked["withdrawn"]
        assert all(sum(state[i]["feedback"].values()) >= 1 for i in acked["feedback"])


def test_stream_pushes_resumes_and_beats(hub: RunningHub) -> None:
    make_bank(hub, "alice", "tcap", ["*"])
    with hub.client("alice") as alice:
        first = alice.post("/v1/banks/tcap/entries",
                           json={"entries": [{"signals": {"md5": MD5_A}}]}).json()["ids"]
    with hub.client("carol", timeout=httpx.Timeout(10, read=5)) as carol, \
            carol.stream("GET", "/v1/stream") as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = response.iter_lines()
        ids, comments = [], 0
        started = time.monotonic()
        pushed_at = None
        for line in lines:
            if line.startswith(":"):
                comments += 1
                if pushed_at is None:
                    with hub.client("alice") as alice:
                        pushed_at = time.monotonic()
                        alice.post("/v1/banks/tcap/entries", json={"entries": [
                            {"signals": {"md5": "0" * 32}}]})
            elif line.startswith("data:"):
                ids.append(json.loads(line[5:])["id"])
                if len(ids) == 2:
                    break
            elif line.startswith("id:"):
                last_event = line[3:].strip()
        assert ids[0] == first[0] and comments >= 1 and time.monotonic() - started < 5
        assert pushed_at is not None and time.monotonic() - pushed_at < 1.0
    with hub.client("alice") as alice:
        third = alice.post("/v1/banks/tcap/entries", json={"entries": [
            {"signals": {"md5": "1" * 32}}]}).json()["ids"]
    with hub.client("carol", timeout=httpx.Timeout(10, read=5)) as carol, \
            carol.stream("GET", "/v1/stream", headers={"Last-Event-ID": last_event}) as resumed:
        for line in resumed.iter_lines():
            if line.startswith("data:"):
                assert json.loads(line[5:])["id"] == third[0]
                break


@pytest.mark.parametrize("path", ["/v1/banks/tcap/entries", "/v1/banks/tcap/import",
                                  "/v1/banks", "/v1/entries/1/feedback"])
def test_the_hub_refuses_content(hub: RunningHub, path: str) -> None:
    make_bank(hub, "alice", "tcap", ["*"])
    jpeg = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(2000)
    with hub.client("alice") as alice:
        upload = alice.post(path, files={"file": ("attack.jpg", jpeg, "image/jpeg")})
        raw = alice.post(path, content=jpeg, headers={"Content-Type": "image/jpeg"})
        disguised = alice.post(path, content=jpeg, headers={"Content-Type": "text/plain"})
    assert upload.status_code == raw.status_code == 415
    assert disguised.status_code in (415, 422)
    spec = httpx.get(f"{hub.url}/openapi.json").json()
    for operations in spec["paths"].values():
        for operation in operations.values():
            content = operation.get("requestBody", {}).get("content", {})
            assert not any(t.startswith(("image/", "video/", "multipart/", "application/oct"))
                           for t in content)
