"""Contributions written in parallel (on PostgreSQL they take the change counter only to
number their entries, see `DeferredWriter`): concurrent contributions of the same new signals
still give one entry per signal, every request succeeds, and a follower polling all along
sees every change once, in order."""

from __future__ import annotations

import threading
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from cordon.store import Store
from cordon.store.database import DeferredWriter, WriteConflict
from tests.test_hub_support import RunningHub, hub, make_bank, read_feed

__all__ = ["hub"]

WRITERS = 6
ROUNDS = 12
SHARED = 30  # signals every writer sends in every round


def _contribute(hub: RunningHub, member: str, number: int, results: dict[str, Any],
                errors: list[str]) -> None:
    with hub.client(member) as client:
        for round_ in range(ROUNDS):
            shared = [f"{k:032x}" for k in range(SHARED)]
            own = [f"{number + 1:08x}{round_:08x}{k:016x}" for k in range(20)]
            # Every writer sends the shared signals, each in its own order, among its own.
            values = own[:10] + shared[number % SHARED:] + shared[: number % SHARED] + own[10:]
            if number % 2:
                values.reverse()
            try:
                response = client.post("/v1/banks/tcap/entries", json={"entries": [
                    {"signals": {"md5": v}, "labels": [f"tag:w{number}"]} for v in values]})
                response.raise_for_status()
            except httpx.HTTPError as exc:
                errors.append(f"{member}: {exc}: {getattr(exc, 'response', None)}")
                continue
            results[member].append(dict(zip(values, response.json()["ids"], strict=True)))


def test_parallel_contributions_of_the_same_signals(hub: RunningHub) -> None:
    make_bank(hub, "alice", "tcap", ["*"])
    members = []
    for number in range(WRITERS):
        members.append(f"writer{number}")
        hub.add_member(members[-1], "contributor")
    results: dict[str, list[dict[str, int]]] = {m: [] for m in members}
    errors: list[str] = []
    polled: list[dict] = []
    stop = threading.Event()

    def poll() -> None:
        cursor = None
        with hub.client("carol") as carol:
            while True:
                done = stop.is_set()
                entries, cursor = read_feed(carol, cursor, limit=13)
                polled.extend(entries)
                if done:
                    return

    follower = threading.Thread(target=poll)
    follower.start()
    threads = [threading.Thread(target=_contribute, args=(hub, m, n, results, errors))
               for n, m in enumerate(members)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stop.set()
    follower.join()
    assert errors == []
    # One entry per signal, whoever sent it first.
    by_value: dict[str, set[int]] = {}
    for answers in results.values():
        assert len(answers) == ROUNDS
        for answer in answers:
            for value, entry_id in answer.items():
                by_value.setdefault(value, set()).add(entry_id)
    assert all(len(ids) == 1 for ids in by_value.values())
    assert len(by_value) == SHARED + WRITERS * ROUNDS * 20
    # The follower saw change numbers strictly rising, and ends with every entry in its final
    # state (the shared ones carry every writer's label).
    changes = [e["change"] for e in polled]
    assert len(set(changes)) == len(changes)
    with hub.client("carol") as carol:
        final, _ = read_feed(carol)
        order = [e["change"] for e in read_feed(carol)[0]]
    assert len(final) == len(by_value)
    latest = {e["id"]: e for e in polled}
    assert {i: e["labels"] for i, e in latest.items()} == {e["id"]: e["labels"] for e in final}
    shared_ids = {next(iter(by_value[f"{k:032x}"])) for k in range(SHARED)}
    for entry in final:
        if entry["id"] in shared_ids:
            assert entry["labels"] == sorted(f"tag:w{n}" for n in range(WRITERS))
    assert order == [e["change"] for e in final]


def test_deferred_numbers_and_conflicts(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("deferred numbering is PostgreSQL's (SQLite has one writer at a time)")
    with Store(database_url) as store:
        bank = _bank(store)
        with store.write() as writer:
            before = writer.next_seqs(0).start - 1
        with store.write(deferred=True) as writer:
            assert isinstance(writer, DeferredWriter)
            seqs = list(writer.next_seqs(3))
            assert all(s < 0 for s in seqs) and seqs == sorted(seqs, reverse=True)
            for number, seq in enumerate(seqs):
                _entry(writer.connection, bank, f"d{number}", seq)
        with store.read() as connection:
            rows = connection.execute(text(
                "SELECT source, change_seq FROM entries WHERE source LIKE 'd%' ORDER BY source"
            )).all()
        assert [seq for _, seq in rows] == [before + 1, before + 2, before + 3]
        # A placeholder handed out but not written would break the order: refused.
        with pytest.raises(RuntimeError), store.write(deferred=True) as writer:
            writer.next_seqs(2)
            _entry(writer.connection, bank, "lost", writer.next_seq())
        # Two deferred writers inserting the same key: the later gets WriteConflict.
        first = store.engine.connect()
        first.begin()
        first_writer = DeferredWriter(first)
        _entry(first, bank, "same", first_writer.next_seq(), entry_id=10**9)
        failure: list[BaseException] = []

        def second() -> None:
            try:
                with store.write(deferred=True) as writer:
                    _entry(writer.connection, bank, "same", writer.next_seq(), entry_id=10**9)
            except BaseException as exc:
                failure.append(exc)

        thread = threading.Thread(target=second)
        thread.start()
        thread.join(0.5)
        first_writer.flush()
        first.commit()
        first.close()
        thread.join(10)
        assert len(failure) == 1 and isinstance(failure[0], WriteConflict)


def _bank(store: Store) -> int:
    with store.write() as writer:
        return int(writer.connection.execute(text(
            "INSERT INTO banks (name, created_at, updated_at, change_seq) "
            "VALUES ('deferred', now(), now(), :seq) RETURNING id"),
            {"seq": writer.next_seq()}).scalar_one())


def _entry(connection: Any, bank: int, source: str, seq: int,
           entry_id: int | None = None) -> None:
    columns = "bank_id, source, created_at, updated_at, change_seq"
    values = ":bank, :source, now(), now(), :seq"
    if entry_id is not None:
        columns, values = f"id, {columns}", f":id, {values}"
    connection.execute(text(f"INSERT INTO entries ({columns}) VALUES ({values})"),
                       {"bank": bank, "source": source, "seq": seq, "id": entry_id})
