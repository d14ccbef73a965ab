"""Queue order and deadlines: a seeded queue of 10,000 cases, removal orders and imminent
threats first, and clocks across time zones and daylight-saving changes."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert

from cordon.node.moderation import clock, priority, queue
from cordon.node.moderation.context import Context
from cordon.node.moderation.settings import ModerationSettings
from cordon.node.moderation.vault import Vault
from cordon.node.service import Node
from cordon.store import Store
from cordon.store.moderation_models import mod_cases

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def test_an_hour_is_sixty_minutes_across_a_change_to_summer_time() -> None:
    # 01:30 CET on the night the clocks go from 02:00 to 03:00.
    received = datetime(2026, 3, 29, 1, 30, tzinfo=BERLIN)
    deadline = clock.add_elapsed(received, minutes=60)
    assert deadline == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert deadline.astimezone(BERLIN).strftime("%H:%M %Z") == "03:30 CEST"


def test_an_hour_is_sixty_minutes_across_a_change_to_winter_time() -> None:
    # The first 02:30 of the night the clocks go back from 03:00 to 02:00.
    received = datetime(2026, 10, 25, 2, 30, tzinfo=BERLIN, fold=0)
    deadline = clock.add_elapsed(received, minutes=60)
    assert (deadline - received).total_seconds() == 3600
    local = deadline.astimezone(BERLIN)
    assert local.strftime("%H:%M %Z") == "02:30 CET" and local.fold == 1


def test_days_keep_the_local_time_across_daylight_saving() -> None:
    filed = datetime(2026, 3, 20, 10, 0, tzinfo=BERLIN)  # CET, UTC+1
    due = clock.add_calendar(filed, BERLIN, days=14)
    assert due.astimezone(BERLIN) == datetime(2026, 4, 3, 10, 0, tzinfo=BERLIN)  # CEST
    assert due == datetime(2026, 4, 3, 8, 0, tzinfo=UTC)
    assert due - filed.astimezone(UTC) == timedelta(days=14, hours=-1)
    autumn = clock.add_calendar(datetime(2026, 10, 20, 10, 0, tzinfo=NEW_YORK), NEW_YORK,
                                days=14)
    assert autumn == datetime(2026, 11, 3, 15, 0, tzinfo=UTC)  # 10:00 EST


def test_the_same_instant_in_two_zones_gets_the_local_calendar_of_each() -> None:
    decided = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)
    assert clock.add_calendar(decided, ZoneInfo("UTC"), days=14) == datetime(
        2026, 3, 15, 23, 30, tzinfo=UTC)
    # In Tokyo it is already 2 March 08:30; 14 days later is 16 March 08:30 there.
    assert clock.add_calendar(decided, ZoneInfo("Asia/Tokyo"), days=14) == datetime(
        2026, 3, 15, 23, 30, tzinfo=UTC)
    assert clock.add_calendar(decided, BERLIN, days=30) == datetime(
        2026, 3, 31, 22, 30, tzinfo=UTC)  # 00:30 CEST on 1 April


def test_months_clamp_to_the_end_of_the_month() -> None:
    decided = datetime(2026, 8, 31, 12, 0, tzinfo=BERLIN)
    window = clock.add_calendar(decided, BERLIN, months=6)
    assert window.astimezone(BERLIN) == datetime(2027, 2, 28, 12, 0, tzinfo=BERLIN)
    leap = clock.add_calendar(datetime(2027, 8, 31, 12, 0, tzinfo=BERLIN), BERLIN, months=6)
    assert leap.astimezone(BERLIN).date().isoformat() == "2028-02-29"


def test_a_wall_clock_time_skipped_by_summer_time_moves_past_the_gap() -> None:
    start = datetime(2026, 3, 1, 2, 30, tzinfo=NEW_YORK)
    # 8 March 2026 02:30 does not exist in New York (02:00 -> 03:00).
    due = clock.add_calendar(start, NEW_YORK, days=7)
    assert due == datetime(2026, 3, 8, 7, 30, tzinfo=UTC)
    assert due.astimezone(NEW_YORK).strftime("%H:%M") == "03:30"


def test_unknown_time_zones_are_refused() -> None:
    from cordon.errors import CordonError

    with pytest.raises(CordonError, match="unknown time zone"):
        clock.zone("Mars/Olympus")


def _expected_deadline(kind: str, opened: datetime, imminent: bool) -> datetime:
    if kind == "order" or (imminent and kind != "appeal"):
        return opened + timedelta(hours=1)
    if kind == "appeal":
        local = opened.astimezone(BERLIN)
        naive = local.replace(tzinfo=None) + timedelta(days=14)
        return naive.replace(tzinfo=BERLIN).astimezone(UTC)
    return opened + timedelta(hours=24)


def test_ten_thousand_cases_come_out_in_order(database_url: str, tmp_path: Path) -> None:
    settings = ModerationSettings(data_dir=tmp_path / "m", timezone="Europe/Berlin")
    rng = random.Random(2026)
    # Around the change to summer time in Berlin (29 March 2026, 01:00 UTC).
    base = datetime(2026, 3, 28, 0, 0, tzinfo=UTC)
    with Store(database_url) as store:
        ctx = Context(Node(store), settings, Vault(settings))
        expected: dict[int, tuple[int, datetime]] = {}
        rows = []
        for index in range(10_000):
            kind = rng.choices(["report", "match", "order", "appeal"], [70, 20, 3, 7])[0]
            imminent = rng.random() < 0.05
            labels = [priority.IMMINENT if imminent else "behaviour:glorification"]
            matches = ([{"bank": "b", "entry": index, "labels": labels,
                         "incident": "i1" if rng.random() < 0.1 else None}]
                       if rng.random() < 0.4 else [])
            opened = base + timedelta(seconds=rng.randrange(0, 3 * 86400))
            values = queue.case_values(ctx, kind, opened, labels=labels, matches=matches,
                                       trusted=rng.random() < 0.1,
                                       reports=rng.randrange(0, 30), content_key=None)
            rows.append(values)
            tier = (0 if kind == "order" else 1 if imminent and kind != "appeal" else 2)
            expected[index] = (tier, _expected_deadline(kind, opened, imminent))
        with store.plain_write() as conn:
            ids = [conn.execute(insert(mod_cases).values(**r).returning(mod_cases.c.id))
                   .scalar_one() for r in rows]
        by_id = {case_id: expected[i] for i, case_id in enumerate(ids)}
        items = queue.queue(ctx, "reviewer", limit=10_000, tz_name="America/New_York")
    assert len(items) == 10_000
    keys = [(i["tier"], -i["priority"], i["deadline_at"], i["id"]) for i in items]
    assert keys == sorted(keys)
    tiers = [i["tier"] for i in items]
    orders = sum(1 for t in tiers if t == 0)
    imminent = sum(1 for t in tiers if t == 1)
    assert orders > 200 and imminent > 300
    assert tiers == [0] * orders + [1] * imminent + [2] * (10_000 - orders - imminent)
    assert all(i["kind"] == "order" for i in items[:orders])
    for item in items:
        tier, deadline = by_id[item["id"]]
        assert item["tier"] == tier, item
        assert datetime.fromisoformat(item["deadline_at"]) == deadline, item
        assert datetime.fromisoformat(item["deadline_local"]) == deadline
        assert datetime.fromisoformat(item["deadline_local"]).tzinfo is not None


def test_a_match_that_commits_late_with_a_smaller_id_is_still_queued(
        database_url: str, tmp_path: Path) -> None:
    from cordon.node import mirror
    from cordon.store.models import node_matches

    settings = ModerationSettings(data_dir=tmp_path / "m")
    with Store(database_url) as store:
        ctx = Context(Node(store), settings, Vault(settings))
        now = datetime.now(UTC)

        def record(match_id: int, actions: list[str]) -> None:
            with store.plain_write() as conn:
                conn.execute(insert(node_matches).values(
                    id=match_id, at=now, source=f"m{match_id}", entry_id=1, bank="b",
                    signal_type="pdq", distance=3.0, query=None, rules=[1],
                    actions=actions))

        record(10, ["review"])
        record(11, ["block"])
        assert queue.sync_review_matches(ctx) == 1
        record(5, ["review"])  # its transaction took its id before 10's, committed after
        assert queue.sync_review_matches(ctx) == 1
        assert queue.sync_review_matches(ctx) == 0
        ctx.now = lambda: now + timedelta(seconds=60)
        assert queue.sync_review_matches(ctx) == 0
        with store.read() as conn:
            assert mirror.read_state(conn, queue.REVIEW_CURSOR) == "11"
        subjects = sorted(i["subject"] for i in queue.queue(ctx, "r", limit=10))
    assert subjects == ["m10", "m5"]


def test_review_sync_reads_past_pages_and_moves_the_cursor_over_settled_matches(
        database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cordon.node import mirror
    from cordon.store.models import node_matches

    # Small pages and batches: the light pass and the write pass must both go past them.
    monkeypatch.setattr(queue, "_SYNC_PAGE", 3)
    monkeypatch.setattr(queue, "_REVIEW_BATCH", 1)
    settings = ModerationSettings(data_dir=tmp_path / "m")
    with Store(database_url) as store:
        ctx = Context(Node(store), settings, Vault(settings))
        now = datetime.now(UTC)

        def record(match_id: int, at: datetime, actions: list[str]) -> None:
            with store.plain_write() as conn:
                conn.execute(insert(node_matches).values(
                    id=match_id, at=at, source=f"m{match_id}", entry_id=1, bank="b",
                    signal_type="pdq", distance=3.0, query=None, rules=[1],
                    actions=actions))

        def cursor() -> str | None:
            with store.read() as conn:
                return mirror.read_state(conn, queue.REVIEW_CURSOR)

        old = now - timedelta(seconds=60)
        for match_id in range(1, 8):
            record(match_id, old, ["review"] if match_id in (2, 6) else ["block", "alert"])
        record(8, now, ["log"])
        record(9, now, ["review"])
        assert queue.sync_review_matches(ctx) == 3
        assert cursor() == "7"  # 8 and 9 are recent: read again until they settle
        assert queue.sync_review_matches(ctx) == 0
        assert cursor() == "7"
        ctx.now = lambda: now + timedelta(seconds=60)
        assert queue.sync_review_matches(ctx) == 0
        assert cursor() == "9"
        subjects = sorted(i["subject"] for i in queue.queue(ctx, "r", limit=10))
    assert subjects == ["m2", "m6", "m9"]
