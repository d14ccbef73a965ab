"""The feed's entries are serialized by orjson straight from their datetimes: the text must be
what `isoformat()` gives, whatever the microseconds, and the same through the feed, the
stream's shared pages and `GET /v1/entries/{id}`."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from cordon.hub.service import entry_json
from cordon.store.hub_repository import FeedRow
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
