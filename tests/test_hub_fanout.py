"""Stream followers share one read per wake-up: each still gets only the banks it may see,
including banks created after it connected, and disputed entries as it asked."""

from __future__ import annotations

import json
import threading
from typing import Any

import httpx

from tests.test_hub_support import RunningHub, hub, make_bank

__all__ = ["hub"]


def _follow(hub: RunningHub, member: str, params: dict[str, Any], seen: list[dict],
            ready: threading.Event) -> None:
    """Collect events until one shows an entry disputed (the last change of the test)."""
    with hub.client(member, timeout=httpx.Timeout(10, read=10)) as client, \
            client.stream("GET", "/v1/stream", params=params) as response:
        ready.set()
        for line in response.iter_lines():
            if line.startswith("data:"):
                seen.append(json.loads(line[5:]))
                if seen[-1]["disputed"]:
                    return


def _md5(n: int) -> str:
    return f"{n:032x}"


def test_shared_stream_reads_keep_each_follower_to_its_banks(hub: RunningHub) -> None:
    make_bank(hub, "alice", "open", ["*"])
    followers: dict[str, dict[str, Any]] = {
        # carol sees "open" and, once it exists, "later"; never "private".
        "carol": {},
        # the admin sees everything.
        "admin": {},
        # bob sees "open" only, with the disputed entry stripped of its signals.
        "bob": {"skip_disputed": "true"},
    }
    seen: dict[str, list[dict]] = {name: [] for name in followers}
    threads = []
    for name, params in followers.items():
        ready = threading.Event()
        thread = threading.Thread(target=_follow, args=(hub, name, params, seen[name], ready))
        thread.start()
        assert ready.wait(10)
        threads.append(thread)
    with hub.client("alice") as alice, hub.client("admin") as admin, \
            hub.client("carol") as carol:
        def add(bank: str, n: int) -> int:
            response = alice.post(f"/v1/banks/{bank}/entries",
                                  json={"entries": [{"signals": {"md5": _md5(n)}}]})
            assert response.status_code == 200, response.text
            return int(response.json()["ids"][0])

        make_bank(hub, "alice", "private", [])
        opened = add("open", 1)
        hidden = add("private", 2)
        make_bank(hub, "alice", "later", ["carol"])
        later = add("later", 3)
        disputed = add("open", 4)
        for member in (admin, carol):
            assert member.post(f"/v1/entries/{disputed}/feedback",
                               json={"verdict": "false_positive"}).status_code == 200
    for thread in threads:
        thread.join(15)
        assert not thread.is_alive()
    ids = {name: {e["id"] for e in entries} for name, entries in seen.items()}
    # Feedback changes of one entry may reach a follower as one event or several.
    assert ids["carol"] == {opened, later, disputed}
    assert ids["bob"] == {opened, disputed}
    assert ids["admin"] == {opened, hidden, later, disputed}
    assert [e["id"] for e in seen["carol"][:2]] == [opened, later]
    last = seen["bob"][-1]
    assert last["id"] == disputed and last["signals"] == {} and last["labels"] == []
    assert seen["carol"][-1]["signals"] == {"md5": _md5(4)}
