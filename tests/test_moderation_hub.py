"""A decision on content matched from the hub sends its verdict to the hub entry and
contributes the content's signals to a hub bank, over real HTTP between node and hub."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cordon.node.settings import NodeSettings
from tests.test_hub_support import RunningHub, make_bank
from tests.test_moderation_support import (
    ModerationNode,
    pdq_of,
    photo,
    report_form,
    serve_moderation,
)
from tests.test_node_support import wait_for

pytest_plugins = ["tests.test_hub_support"]


@pytest.fixture()
def linked(hub: RunningHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
           ) -> Iterator[tuple[RunningHub, ModerationNode]]:
    make_bank(hub, "alice", "tcap", ["*"])
    make_bank(hub, "bob", "bob-found", ["*"])
    settings = NodeSettings(hub_url=hub.url, hub_token=hub.tokens["bob"], poll_seconds=0.5,
                            max_upload_bytes=1 << 20)
    for mod in serve_moderation(f"sqlite:///{tmp_path / 'node.db'}", tmp_path / "moderation",
                                monkeypatch, settings):
        yield hub, mod


def test_decisions_give_hub_feedback_and_contribute(
        linked: tuple[RunningHub, ModerationNode]) -> None:
    hub, mod = linked
    known, fresh = photo(50), photo(51)
    with hub.client("alice") as alice:
        added = alice.post("/v1/banks/tcap/entries", json={"entries": [
            {"signals": {"pdq": pdq_of(mod, known)}, "labels": ["behaviour:attack-depiction"]}]})
        assert added.status_code == 200, added.text
        hub_entry = added.json()["ids"][0]
    wait_for(lambda: mod.running.node.stats()["mirrored_entries"] >= 1, 15)

    matched = report_form(mod, known).json()
    assert matched["matched"]
    with mod.client("alice") as reviewer:
        case = reviewer.get(f"/v1/cases/{matched['case']}").json()
        assert case["matches"][0]["origin"] == "hub"
        assert case["matches"][0]["entry"] == hub_entry
        decided = reviewer.post(f"/v1/cases/{matched['case']}/decision", json={
            "action": "remove", "hub_feedback": True}).json()
    [sent] = decided["hub"]["feedback"]
    assert sent["entry"] == hub_entry and sent["verdict"] == "confirm"
    with hub.client("carol") as reader:
        entry = reader.get(f"/v1/entries/{hub_entry}").json()
    assert entry["feedback"]["confirm"] == 1

    unknown = report_form(mod, fresh).json()
    assert not unknown["matched"]
    with mod.client("alice") as reviewer:
        decided = reviewer.post(f"/v1/cases/{unknown['case']}/decision", json={
            "action": "remove", "labels": ["behaviour:glorification"],
            "contribute_to": "bob-found"}).json()
    contributed = decided["hub"]["contributed"]
    assert contributed["bank"] == "bob-found" and len(contributed["entries"]) == 1
    with hub.client("carol") as reader:
        entry = reader.get(f"/v1/entries/{contributed['entries'][0]}").json()
    assert entry["labels"] == ["behaviour:glorification"]
    assert entry["bank"] == "bob-found"
