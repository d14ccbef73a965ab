"""The node's dashboard (its home page): matches per hour over the last day, the actions the
rules took, how far the hub mirror is behind, and what is indexed."""

from __future__ import annotations

import math
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from cordon.node.follower import HubFollower
from cordon.node.service import Node
from cordon.node.sync_lag import LagSample
from cordon.store.models import node_matches
from cordon.store.types import utcnow

HOURS = 24
# The sync-lag charts draw at most this many points (each the worst of its samples).
LAG_POINTS = 144
# Actions are counted over the newest matches of the day, at most this many rows.
ACTION_ROWS = 50_000


def matches_per_hour(node: Node, now: datetime) -> list[tuple[str, int]]:
    """(hour label, matches) for each of the last HOURS hours, oldest first."""
    end = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    starts = [end - timedelta(hours=HOURS - i) for i in range(HOURS)]
    with node.store.read() as conn:
        counts = [conn.execute(select(func.count()).select_from(node_matches).where(
            node_matches.c.at >= start, node_matches.c.at < start + timedelta(hours=1))
        ).scalar_one() for start in starts]
    return [(start.strftime("%H:00"), int(n)) for start, n in zip(starts, counts, strict=True)]


def actions_of_day(node: Node, now: datetime) -> Counter[str]:
    since = now - timedelta(hours=HOURS)
    with node.store.read() as conn:
        rows = conn.execute(select(node_matches.c.actions).where(
            node_matches.c.at >= since, node_matches.c.actions.is_not(None))
            .order_by(node_matches.c.id.desc()).limit(ACTION_ROWS)).all()
    counted: Counter[str] = Counter()
    for (actions,) in rows:
        for action in actions or ():
            name = action.get("action") if isinstance(action, dict) else action
            if isinstance(name, str):
                counted[name] += 1
    return counted


def sync_state(follower: HubFollower | None) -> dict[str, Any] | None:
    """How the node follows the hub; None when it follows none. `lag_seconds` is the time
    since changes were last applied: while the push stream is up, a quiet hub is not a lag
    (the node is in step); while polling, it is the age of the last feed read."""
    if follower is None:
        return None
    status = follower.status
    lag = None if status.last_sync is None else max(0.0, time.time() - status.last_sync)
    lag_points, contact_points = lag_chart(follower.lag.samples())
    return {"hub": follower.hub_url, "mode": status.mode, "lag_seconds": lag,
            "last_error": status.last_error, "applied": status.applied,
            "behind_seconds": follower.lag.last_lag,
            "since_contact": follower.lag.seconds_since_contact(),
            "lag_points": lag_points, "contact_points": contact_points}


def lag_chart(samples: list[LagSample]) -> tuple[list[tuple[str, float]],
                                                 list[tuple[str, float]]]:
    """(time, seconds behind the hub) and (time, seconds since the hub was last heard) for
    the charts: consecutive samples grouped to at most LAG_POINTS points, each the worst of
    its group. A group without a word from the hub has no lag point."""
    size = max(1, math.ceil(len(samples) / LAG_POINTS))
    lag: list[tuple[str, float]] = []
    contact: list[tuple[str, float]] = []
    for start in range(0, len(samples), size):
        group = samples[start:start + size]
        label = datetime.fromtimestamp(group[0].at, UTC).strftime("%H:%M:%S")
        lags = [s.lag_seconds for s in group if s.lag_seconds is not None]
        if lags:
            lag.append((label, max(lags)))
        ages = [s.contact_age for s in group if s.contact_age is not None]
        if ages:
            contact.append((label, max(ages)))
    return lag, contact


def load_dashboard(node: Node, follower: HubFollower | None) -> dict[str, Any]:
    now = utcnow()
    stats = node.stats()
    return {"per_hour": matches_per_hour(node, now), "actions": actions_of_day(node, now),
            "sync": sync_state(follower), "stats": stats,
            "recent": node.matches(limit=10)}
