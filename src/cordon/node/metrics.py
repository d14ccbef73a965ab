"""Prometheus metrics of one node process."""

from __future__ import annotations

import math
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge

from cordon.hub.metrics import HubMetrics


class NodeMetrics(HubMetrics):
    """The hub's request metrics (same middleware) and the node's own gauges."""

    def __init__(self) -> None:
        super().__init__()
        registry: CollectorRegistry = self.registry
        self.indexed = Gauge("cordon_node_indexed_entries", "Live entries in the matcher.",
                             registry=registry)
        self.applied = Gauge("cordon_node_hub_changes_applied",
                             "Hub changes applied since the process started.", registry=registry)
        self.streaming = Gauge("cordon_node_hub_stream_up", "1 while the hub stream is open.",
                               registry=registry)
        self.lag = Gauge("cordon_node_hub_lag_seconds",
                         "Seconds from the hub's change to its application here, of the newest "
                         "change applied.", registry=registry)
        self.since_contact = Gauge("cordon_node_hub_seconds_since_contact",
                                   "Seconds since the hub last answered (page, event or "
                                   "heartbeat).", registry=registry)
        self.matches = Counter("cordon_node_matches", "Matches found, by signal type.",
                               ["signal_type"], registry=registry)

    def refresh(self, node: Any, follower: Any) -> None:
        self.indexed.set(len(node.matcher))
        if follower is not None:
            self.applied.set(follower.status.applied)
            self.streaming.set(1 if follower.status.mode == "stream" else 0)
            lag, since = follower.lag.last_lag, follower.lag.seconds_since_contact()
            self.lag.set(math.nan if lag is None else lag)
            self.since_contact.set(math.nan if since is None else since)
