"""The feed's entries are serialized by orjson straight from their datetimes: the text must be
what `isoformat()` gives, whatever the microseconds, and the same through the feed, the
stream's shared pages and `GET /v1/entries/{id}`."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest

from cordon.hub import cursor as cursors
from cordon.hub.service import entries_json, entry_json
from cordon.store import Store
from cordon.store import hub_repository as hub_repo
from cordon.store import repository as repo
from cordon.store.bulk import bulk_insert
from cordon.store.hub_repository import FeedRow
from cordon.store.models import entries
from cordon.store.repository import EntryDraft, SignalDraft
from tests.test_hub_support import PDQ_A, RunningHub, hub, make_bank, read_feed

__all__ = ["hub"]


@pytest.mark.parametrize("moment", [
    datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),           # no microseconds: none written
    datetime(2026, 1, 2, 3, 4, 5, 120, tzinfo=UTC),
    datetime(1999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
])
def test_times_are_written_as_isoformat(moment: datetime) -> None:
    row = FeedRow(7, 1, "image", "note", moment, moment, moment, 42, None, None, 1, 2, 3, True,
                  [("pdq", PDQ_A, {"quality": 90}), ("md5", "0" * 32, None),
                   ("md5", "1" * 32, None)], ["a", "b"])
    entry = orjson.loads(orjson.dumps(entry_json(row, "tcap", {}, False)))
    assert entry["created_at"] == entry["updated_at"] == entry["withdrawn_at"] == \
        moment.isoformat()
    assert entry["signals"] == {"pdq": {"hash": PDQ_A, "quality": 90},
                                "md5": ["0" * 32, "1" * 32]}
    assert entry["feedback"] == {"confirm": 1, "false_positive": 2, "disagree_label": 3}
    hidden = orjson.loads(orjson.dumps(entry_json(row, "tcap", {}, True)))
    assert (hidden["signals"], hidden["labels"], hidden["disputed"]) == ({}, [], True)


def test_the_feed_and_one_entry_agree(hub: RunningHub) -> None:
    make_bank(hub, "alice", "tcap", ["*"])
    with hub.client("alice") as alice:
        (entry_id,) = alice.post("/v1/banks/tcap/entries", json={"entries": [
            {"signals": {"pdq": PDQ_A}, "labels": ["behaviour:glorification"]}]}).json()["ids"]
        alice.delete(f"/v1/entries/{entry_id}")
        (fed,), _ = read_feed(alice)
        one = alice.get(f"/v1/entries/{entry_id}").json()
    assert fed == one
    for key in ("created_at", "updated_at", "withdrawn_at"):
        assert datetime.fromisoformat(fed[key]).tzinfo is not None


def test_cursor_encoding_is_the_urlsafe_base64_of_the_change_number() -> None:
    for seq in [0, 1, 9, 10, 99, 100, 12_345, 10**9, 2**53 + 1, 10**18 - 1]:
        text = cursors.encode(seq)
        assert text == base64.urlsafe_b64encode(f"c1.{seq}".encode()).decode().rstrip("=")
        assert cursors.decode(text) == seq


def test_a_page_of_entries_keeps_each_entrys_own_feedback() -> None:
    moment = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    totals = [(0, 0, 0), (1, 0, 0), (0, 0, 0), (0, 2, 1), (1, 0, 0)]
    rows = [FeedRow(i, 1 + i % 2, None, None, moment, moment, None, 10 + i, i % 3 or None,
                    None, *t, t[1] >= 2, [("md5", f"{i:032x}", None)], [])
            for i, t in enumerate(totals)]
    page = orjson.loads(orjson.dumps(entries_json(rows, {1: "a", 2: "b"}, {1: "m1", 2: "m2"},
                                                  True)))
    one_by_one = [orjson.loads(orjson.dumps(entry_json(r, "a" if r.bank_id == 1 else "b",
                                                       {1: "m1", 2: "m2"}, True)))
                  for r in rows]
    assert page == one_by_one
    assert [tuple(e["feedback"].values()) for e in page] == totals
    assert [e["bank"] for e in page] == ["a", "b", "a", "b", "a"]
    assert [e["contributor"] for e in page] == [None, "m1", "m2", None, "m1"]
    assert page[3]["signals"] == {} and page[1]["signals"] == {"md5": f"{1:032x}"}


def test_copied_times_keep_their_instant(database_url: str) -> None:
    """COPY sends datetimes as text (`cordon.store.bulk`): microseconds and the instant of a
    time given in another zone survive it."""
    moments = [datetime(2026, 1, 2, 3, 4, 5, 7, tzinfo=UTC),
               datetime(2026, 6, 30, 23, 59, 59, 999_999, tzinfo=timezone(timedelta(hours=-5)))]
    with Store(database_url) as store:
        with store.write() as writer:
            bank = repo.create_bank(writer, "times", None)
            rows = [(9_000 + i, bank.id, None, None, None, moment, moment, None,
                     writer.next_seq()) for i, moment in enumerate(moments)]
            bulk_insert(writer.connection, entries, [c.name for c in entries.c], rows)
        with store.read() as connection:
            found = [repo.get_entry(connection, bank.id, 9_000 + i) for i in range(2)]
    assert [e.created_at for e in found if e] == moments
    assert [e.updated_at for e in found if e] == moments


@pytest.mark.parametrize(("count", "bank_count"), [(12, 2), (300, 2), (700, 10)])
def test_feed_rows_hold_every_entrys_details_whether_ids_are_dense_or_scattered(
    database_url: str, count: int, bank_count: int
) -> None:
    """A page's details are read by the runs of consecutive entry ids it holds, or by the
    list of its ids when they are too scattered (PostgreSQL): either way every entry of the
    page, and only it, gets its signals, labels and hub columns, from one bank among
    others (one bank of ten: a run per entry, too many runs)."""
    with Store(database_url) as store:
        with store.write() as writer:
            member = hub_repo.insert_member(writer.connection, "m", "contributor")
            banks = [repo.create_bank(writer, f"b{n}", None).id for n in range(bank_count)]
            for index in range(count):
                drafts = [EntryDraft([SignalDraft.of("md5", f"{index:032x}"),
                                      SignalDraft.of("pdq", f"{index:064x}")],
                                     {f"tag:{index % 3}", "tag:x"}, "image")]
                counts = repo.upsert_entries(writer, banks[index % bank_count], drafts)
                hub_repo.insert_hub_entries(writer.connection,
                                            [(counts.entry_ids[0], member.id, None)])
        # The first two entries of the first bank come again at the end of the feed: with
        # its last ones, their ids are far apart.
        first, second = 1, 1 + bank_count
        with store.write() as writer:
            for entry_id in (first, second):
                repo.withdraw_entry(writer, banks[0], entry_id)
        with store.read() as connection:
            every = hub_repo.feed_rows(connection, 0, 10**9, 10**6, None)
            tail = hub_repo.feed_rows(connection, every[-2 - 2 * bank_count].change_seq - 1,
                                      10**9, 100, [banks[0]])
            head = hub_repo.feed_rows(connection, 0, 10**9, 5, [banks[0]])
            whole = hub_repo.feed_rows(connection, 0, 10**9, 10**6, [banks[0]])
    assert [r.id for r in every[-2:]] == [first, second]
    for page in (every, tail, head, whole):
        for row in page:
            index = row.id - 1
            assert row.signals == [("md5", f"{index:032x}", None), ("pdq", f"{index:064x}", None)]
            assert row.labels == sorted({f"tag:{index % 3}", "tag:x"})
            assert (row.member_id, row.confirms, row.disputed) == (member.id, 0, False)
    in_first_bank = [*range(1 + 2 * bank_count, count + 1, bank_count), first, second]
    assert [r.id for r in whole] == in_first_bank
    assert [r.id for r in head] == in_first_bank[:5]
    assert [r.id for r in tail] == in_first_bank[-4:]
