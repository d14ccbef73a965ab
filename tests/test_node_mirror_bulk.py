"""Feed pages applied in bulk: entries the node has not seen are written with multi-row
inserts, and the result is the same as applying the changes one by one in feed order
(repeats, updates, withdrawals and a value moving between entries within one page)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from cordon.hub import cursor as cursors
from cordon.node.follower import _bursts
from cordon.node.service import Node
from cordon.node.settings import NodeSettings
from cordon.signals import get_signal_type
from cordon.store import Store
from cordon.store.models import entries, entry_labels, entry_signals, node_mirror


def item(hub_id: int, change: int, pdq: str, *, bank: str = "tcap", withdrawn: bool = False,
         labels: tuple[str, ...] = ("terrorism",)) -> dict[str, Any]:
    return {"id": hub_id, "bank": bank, "change": cursors.encode(change),
            "signals": {"pdq": pdq}, "labels": list(labels), "content_type": "image",
            "incident": None, "note": None, "contributor": "alice", "withdrawn": withdrawn,
            "feedback": {"confirm": 0, "false_positive": 0, "disagree_label": 0},
            "disputed": False}


@pytest.fixture()
def node(database_url: str) -> Iterator[Node]:
    with Store(database_url) as store:
        node = Node(store, NodeSettings())
        node.load()
        yield node


def matched(node: Node, pdq: str) -> list[int]:
    parsed = {"pdq": get_signal_type("pdq").parse(pdq)}
    return [m["entry"] for m in node.find(parsed) if m["distance"] == 0]


def counts(node: Node) -> dict[str, int]:
    with node.store.read() as conn:
        return {name: conn.execute(select(func.count()).select_from(table)).scalar_one()
                for name, table in (("entries", entries), ("mirror", node_mirror),
                                    ("signals", entry_signals), ("labels", entry_labels))}


def test_a_large_page_is_mirrored_and_matchable(node: Node) -> None:
    pdqs = [secrets.token_hex(32) for _ in range(3000)]
    page = [item(i + 1, i + 1, pdq) for i, pdq in enumerate(pdqs)]
    assert node.apply_page(page, page[-1]["change"]) == 3000
    assert counts(node) == {"entries": 3000, "mirror": 3000, "signals": 3000, "labels": 3000}
    assert matched(node, pdqs[0]) == [1]
    assert matched(node, pdqs[-1]) == [3000]
    # The page again (a repeated delivery) changes nothing.
    assert node.apply_page(page, cursors.encode(3001)) == 0
    assert counts(node)["entries"] == 3000


def test_repeats_updates_and_withdrawals_within_one_page_keep_feed_order(node: Node) -> None:
    a, b, c, moved = (secrets.token_hex(32) for _ in range(4))
    node.apply_page([item(1, 1, a)], cursors.encode(1))
    page = [
        item(2, 2, b),
        item(1, 3, a, withdrawn=True),        # known before the page: withdrawn
        item(3, 4, moved),
        item(2, 5, c, labels=("propaganda",)),  # new in this page, then changed in it
        item(4, 6, moved),                     # a value moving to a newer entry of the bank
        item(3, 4, moved),                     # a late repeat of an older change
    ]
    node.apply_page(page, cursors.encode(6))
    assert matched(node, a) == []
    assert matched(node, b) == []
    assert matched(node, c) == [2]
    with node.store.read() as conn:
        owner = conn.execute(select(node_mirror.c.hub_entry_id).join(
            entry_signals, entry_signals.c.entry_id == node_mirror.c.entry_id).where(
            entry_signals.c.value == moved)).scalars().all()
        labels = conn.execute(select(entry_labels.c.label).join(
            node_mirror, node_mirror.c.entry_id == entry_labels.c.entry_id).where(
            node_mirror.c.hub_entry_id == 2)).scalars().all()
    assert owner == [4]
    assert labels == ["propaganda"]
    assert counts(node)["mirror"] == 4
    # Restarting from the store gives the same index as the incremental updates.
    node.load()
    assert matched(node, c) == [2]
    assert matched(node, a) == []


def test_followed_banks_only_and_a_withdrawn_newcomer_is_not_indexed(database_url: str) -> None:
    with Store(database_url) as store:
        node = Node(store, NodeSettings(follow=("tcap",)))
        node.load()
        kept, other, gone = (secrets.token_hex(32) for _ in range(3))
        node.apply_page([item(1, 1, kept), item(2, 2, other, bank="other"),
                         item(3, 3, gone, withdrawn=True)], cursors.encode(3))
        assert matched(node, kept) == [1]
        assert matched(node, other) == []
        assert matched(node, gone) == []
        assert counts(node)["mirror"] == 2


def test_stream_events_are_grouped_in_order_and_a_broken_stream_still_fails() -> None:
    events = [("entry", str(i), cursors.encode(i)) for i in range(2500)]
    groups = list(_bursts(iter(events), 1000))
    assert [event for group in groups for event in group] == events
    assert all(0 < len(group) <= 1000 for group in groups)

    def broken() -> Iterator[tuple[str, str, str | None]]:
        yield ("entry", "{}", cursors.encode(1))
        raise httpx.ReadError("the stream dropped")

    seen = []
    with pytest.raises(httpx.ReadError):
        for group in _bursts(broken(), 10):
            seen.extend(group)
    assert len(seen) == 1
