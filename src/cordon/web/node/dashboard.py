"""The node's dashboard (its home page): matches per hour over the last day, the actions the
rules took, how far the hub mirror is behind, and what is indexed."""

from __future__ import annotations

import time
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from cordon.node.follower import HubFollower
from cordon.node.service import Node
from cordon.store.models import node_matches
from cordon.store.types import utcnow

HOURS = 24
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
    return {"hub": follower.hub_url, "mode": status.mode, "lag_seconds": lag,
            "last_error": status.last_error, "applied": status.applied}


def load_dashboard(node: Node, follower: HubFollower | None) -> dict[str, Any]:
    now = utcnow()
    stats = node.stats()
    return {"per_hour": matches_per_hour(node, now), "actions": actions_of_day(node, now),
            "sync": sync_state(follower), "stats": stats,
            "recent": node.matches(limit=10)}
