"""The sync lag of a node following the hub: a bounded in-memory history of samples, fed by
the follower as it applies changes, shown by `/v1/status`, `/v1/status/sync-lag`, the
Prometheus metrics and a chart on the dashboard."""

from __future__ import annotations

import re
import time
from itertools import pairwise
from pathlib import Path

import httpx

from cordon.node.sync_lag import LagHistory, change_time
from tests.test_hub_support import make_bank
from tests.test_node_support import wait_for
from tests.test_node_sync import contribute, random_pdq
from tests.web_support import HubUi, NodeUi, hub_ui, node_ui, serve_node_ui

__all__ = ["hub_ui", "node_ui"]


def test_history_keeps_one_sample_per_slot_within_its_bound() -> None:
    history = LagHistory(slot_seconds=10, keep_seconds=60)
    history.contact(now=1000.0)
    history.applied([{"updated_at": "1970-01-01T00:16:38+00:00"},  # 998: the newest
                     {"updated_at": "1970-01-01T00:16:30"}, {"updated_at": "garbage"}],
                    now=1004.0)
    history.applied([], now=1012.0)  # a page with nothing new: in step
    samples = history.samples(now=1035.0)
    assert [s.at for s in samples] == [1000.0, 1010.0, 1020.0, 1030.0]
    assert [s.lag_seconds for s in samples] == [6.0, 0.0, None, None]
    assert [s.contact_age for s in samples] == [6.0, 8.0, 18.0, 23.0]
    assert history.last_lag == 6.0 and history.seconds_since_contact(now=1035.0) == 23.0
    # Silence far longer than the history: only the newest slots are kept.
    samples = history.samples(now=100_000.0)
    assert len(samples) == 7 and samples[-1].at == 100_000.0
    assert [b.at - a.at for a, b in pairwise(samples)] == [10.0] * 6
    # A hub clock ahead of the node's is no lag; entries without a time count as contact.
    history.applied([{"updated_at": "1970-01-02T10:00:00+00:00"}], now=100_001.0)
    assert history.last_lag == 0.0
    assert change_time({"updated_at": 5}) is None and change_time({}) is None


def test_a_following_node_records_and_shows_its_lag(hub_ui: HubUi, tmp_path: Path) -> None:
    hub = hub_ui.hub
    make_bank(hub, "alice", "tcap", ["*"])
    for site in serve_node_ui(f"sqlite:///{tmp_path / 'node.db'}", hub):
        follower = site.node.app.state.follower
        wait_for(lambda f=follower: f.status.mode == "stream", 20)
        contributed = time.time()
        contribute(hub, "alice", "tcap", random_pdq())
        wait_for(lambda f=follower: f.status.applied >= 1, 10)
        with site.node.client() as api:
            follow = api.get("/v1/status").json()["follow"]
            assert 0 <= follow["lag_seconds"] < time.time() - contributed + 1
            assert 0 <= follow["seconds_since_contact"] < 30
            answer = api.get("/v1/status/sync-lag", params={"minutes": 5})
            assert answer.status_code == 200
            samples = answer.json()["samples"]
            assert answer.json()["slot_seconds"] == 10
            assert samples and all(set(s) == {"at", "lag_seconds", "seconds_since_contact"}
                                   for s in samples)
            assert any(s["lag_seconds"] is not None and s["lag_seconds"] > 0 for s in samples)
            for bad in ("0", "1441", "ten", "-5"):
                refused = api.get("/v1/status/sync-lag", params={"minutes": bad})
                assert refused.status_code == 422, bad
            metrics = api.get("/metrics").text
        lag_line = re.search(r"^cordon_node_hub_lag_seconds (\S+)$", metrics, re.M)
        assert lag_line is not None and 0 <= float(lag_line.group(1)) < 30
        assert re.search(r"^cordon_node_hub_seconds_since_contact \d", metrics, re.M)
        with httpx.Client(base_url=site.url) as anonymous:
            assert anonymous.get("/v1/status/sync-lag").status_code == 401
        with site.client("reviewer") as client:
            page = client.get("/ui/")
        assert page.status_code == 200
        chart = re.search(r'<svg class="chart".*?<title>Seconds behind the hub since the node '
                          r'started</title><desc>([^<]*)</desc>.*?</svg>', page.text, re.S)
        assert chart is not None and "<polyline" in chart.group(0)
        assert re.search(r"\d\d:\d\d:\d\d: [\d.]+ s", chart.group(1))
        assert "Seconds since the hub was last heard" in page.text
        assert re.search(r"<dt>Latest change</dt><dd>[\d.]+ s after the hub made it</dd>",
                         page.text)


def test_a_node_following_no_hub_has_no_lag(node_ui: NodeUi) -> None:
    with node_ui.node.client() as api:
        answer = api.get("/v1/status/sync-lag")
        assert answer.status_code == 404 and "follows no hub" in answer.text
    with node_ui.client("reviewer") as client:
        page = client.get("/ui/")
    assert page.status_code == 200 and "Sync lag" not in page.text
