"""A node that follows the hub over its streams stops without an error from the follower:
closing a stream under its reader is how the follower stops, not a failure."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.test_hub_support import RunningHub, make_bank
from tests.test_node_support import start_node, wait_for
from tests.test_node_sync import node_settings

pytest_plugins = ["tests.test_hub_support"]


@pytest.mark.parametrize("round_", range(3))
def test_a_streaming_node_stops_with_nothing_logged_by_the_follower(
        hub: RunningHub, tmp_path: Path, caplog: pytest.LogCaptureFixture, round_: int) -> None:
    make_bank(hub, "alice", "tcap", ["*"])
    node = start_node(f"sqlite:///{tmp_path / 'node.db'}", node_settings(hub))
    try:
        follower = node.app.state.follower
        wait_for(lambda: follower.status.mode == "stream", 10)
        caplog.clear()
        with caplog.at_level(logging.DEBUG, logger="cordon.node.follower"):
            node.stop()
        assert not node.thread.is_alive()
        assert follower.status.mode == "stopped"
        said = [r.getMessage() for r in caplog.records
                if r.name.startswith("cordon.node.follower")]
        assert said == [], said
        assert follower.status.last_error is None
    finally:
        node.stop()
        node.store.close()
