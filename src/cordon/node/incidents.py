"""Incidents at the node: learned from the hub (pushed on the stream, read again at every
catch-up), raised to the operators (webhook event `incident`), acknowledged to the hub
automatically, turned into a crisis rule when the operators ask for one, and counted for the
debrief: the hub receives how many matches and blocks the incident's entries caused here,
never what matched.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any

import httpx
import orjson
from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from cordon.errors import CordonError
from cordon.node.rules import ACTIONS, Rule
from cordon.node.service import Node, NodeError
from cordon.store.incident_models import node_incidents
from cordon.store.models import node_matches, node_mirror, node_outbox, node_webhooks
from cordon.store.types import utcnow

log = logging.getLogger("cordon.node.incidents")

EVENT = "incident"
# Crisis rules are stronger than any stored rule of the same action: they sort first.
_CRISIS_RULE_BASE = -1


def crisis_rule_id(hub_id: int) -> int:
    return _CRISIS_RULE_BASE - hub_id


class NodeIncidents:
    """The incidents of one node. `report_seconds`: how often counts go back to the hub."""

    def __init__(self, node: Node, report_seconds: float = 5.0) -> None:
        self.node = node
        self.report_seconds = report_seconds
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._write = threading.Lock()

    # --- learning --------------------------------------------------------------------------
    def apply(self, incident: Mapping[str, Any], *, live: bool = True) -> bool:
        """Record the hub's description of an incident if it is newer than the stored one.

        `live` is False for incidents read in bulk at catch-up; one that is already concluded
        when first seen is then kept for the record without alerting anyone. Returns whether
        anything changed."""
        hub_id = int(incident["id"])
        version = int(incident.get("version") or 0)
        status = str(incident.get("status"))
        try:
            return self._apply(incident, hub_id, version, status, live)
        except IntegrityError:
            # Another process of this node recorded it at the same moment: it alerts.
            return False

    def _apply(self, incident: Mapping[str, Any], hub_id: int, version: int, status: str,
               live: bool) -> bool:
        now = utcnow()
        with self._write, self.node.plain_write() as conn:
            row = conn.execute(select(node_incidents.c.version, node_incidents.c.status)
                               .where(node_incidents.c.hub_id == hub_id)).first()
            if row is not None and row.version >= version:
                return False
            values = {"version": version, "status": status,
                      "label": str(incident.get("label") or f"incident:{hub_id}"),
                      "data": dict(incident), "updated_at": now}
            if row is None:
                quiet = status != "open" and not live
                conn.execute(insert(node_incidents).values(
                    hub_id=hub_id, learned_at=now,
                    # Nothing to acknowledge for an incident that ended before we heard of it.
                    acked_at=now if quiet else None, **values))
                change = "declared"
            else:
                quiet = False
                conn.execute(update(node_incidents).where(node_incidents.c.hub_id == hub_id)
                             .values(**values))
                change = "concluded" if status == "concluded" != row.status else "updated"
            queued = 0 if quiet else self._queue_webhooks(conn, change, incident, now)
        if queued:
            # After the commit: a worker woken earlier would find nothing and sleep on.
            self.node.outbox_ready.set()
        self.refresh_rules()
        self._wake.set()
        return True

    def _queue_webhooks(self, conn: Any, change: str, incident: Mapping[str, Any],
                        now: Any) -> int:
        hooks = conn.execute(select(node_webhooks.c.id, node_webhooks.c.events).where(
            node_webhooks.c.deleted_at.is_(None))).all()
        body = orjson.dumps({"event": EVENT, "change": change, "at": now.isoformat(),
                             "incident": dict(incident)}).decode()
        queued = 0
        for hook in hooks:
            if EVENT in hook.events:
                conn.execute(insert(node_outbox).values(
                    webhook_id=hook.id, event=EVENT, body=body, created_at=now, attempts=0,
                    next_attempt_at=now, status="pending"))
                queued += 1
        return queued

    def sync(self, incidents: list[Mapping[str, Any]]) -> int:
        """Apply a list read from `GET /v1/incidents` (a catch-up); returns how many changed."""
        return sum(self.apply(item, live=False) for item in incidents)

    # --- crisis mode -----------------------------------------------------------------------
    def set_crisis(self, hub_id: int, action: str | None,
                   max_distance: float | None = None) -> dict[str, Any]:
        if action is not None and action not in ACTIONS:
            raise NodeError(f"unknown action {action!r} (known: {', '.join(ACTIONS)})", 422)
        with self.node.plain_write() as conn:
            changed = conn.execute(update(node_incidents).where(
                node_incidents.c.hub_id == hub_id).values(
                crisis_action=action,
                crisis_max_distance=max_distance if action is not None else None)).rowcount
        if not changed:
            raise NodeError(f"no incident {hub_id} is known here", 404)
        self.refresh_rules()
        return self.get(hub_id)

    def refresh_rules(self) -> None:
        """Hand the node the crisis rules of the open incidents."""
        with self.node.store.read() as conn:
            rows = conn.execute(select(node_incidents).where(
                node_incidents.c.status == "open",
                node_incidents.c.crisis_action.is_not(None))
                .order_by(node_incidents.c.hub_id)).all()
        self.node.crisis_rules = [
            Rule(crisis_rule_id(r.hub_id), f"crisis: incident {r.hub_id}", r.crisis_action,
                 labels=(r.label,), max_distance=r.crisis_max_distance) for r in rows]

    # --- reading ---------------------------------------------------------------------------
    def counts(self, hub_id: int) -> dict[str, int]:
        """Matches of the incident's entries here, and how many of them were blocked."""
        with self.node.store.read() as conn:
            rows = conn.execute(
                select(node_matches.c.actions)
                .join(node_mirror, node_mirror.c.hub_entry_id == node_matches.c.hub_entry_id)
                .where(node_mirror.c.incident == str(hub_id))).all()
        blocks = sum(1 for (actions,) in rows if actions and "block" in actions)
        return {"matches": len(rows), "blocks": blocks}

    def _json(self, row: Any) -> dict[str, Any]:
        return {**row.data, "learned_at": row.learned_at.isoformat(),
                "acknowledged_at": row.acked_at.isoformat() if row.acked_at else None,
                "crisis": ({"action": row.crisis_action,
                            "max_distance": row.crisis_max_distance}
                           if row.crisis_action else None),
                "counts": self.counts(row.hub_id)}

    def list(self, status: str | None = None) -> list[dict[str, Any]]:
        query = select(node_incidents).order_by(node_incidents.c.hub_id.desc())
        if status is not None:
            query = query.where(node_incidents.c.status == status)
        with self.node.store.read() as conn:
            rows = conn.execute(query).all()
        return [self._json(r) for r in rows]

    def get(self, hub_id: int) -> dict[str, Any]:
        with self.node.store.read() as conn:
            row = conn.execute(select(node_incidents).where(
                node_incidents.c.hub_id == hub_id)).first()
        if row is None:
            raise NodeError(f"no incident {hub_id} is known here", 404)
        return self._json(row)

    # --- acknowledging and reporting back --------------------------------------------------
    def report_once(self, http: httpx.Client) -> int:
        """Acknowledge new incidents and send changed counts; returns the calls made."""
        with self.node.store.read() as conn:
            rows = conn.execute(select(node_incidents.c.hub_id, node_incidents.c.status,
                                       node_incidents.c.acked_at, node_incidents.c.reported)
                                .where(node_incidents.c.status.in_(("open", "concluded")))
                                ).all()
        calls = 0
        for row in rows:
            if row.acked_at is None:
                response = http.post(f"/v1/incidents/{row.hub_id}/ack")
                calls += 1
                if response.status_code == 200:
                    with self.node.plain_write() as conn:
                        conn.execute(update(node_incidents).where(
                            node_incidents.c.hub_id == row.hub_id).values(acked_at=utcnow()))
                else:
                    log.warning("incident %s: the hub answered %s to the acknowledgement",
                                row.hub_id, response.status_code)
            counts = self.counts(row.hub_id)
            if counts != (row.reported or {"matches": 0, "blocks": 0}):
                response = http.put(f"/v1/incidents/{row.hub_id}/counts", json=counts)
                calls += 1
                if response.status_code == 200:
                    with self.node.plain_write() as conn:
                        conn.execute(update(node_incidents).where(
                            node_incidents.c.hub_id == row.hub_id).values(reported=counts))
        return calls

    def wake(self) -> None:
        self._wake.set()

    def run(self) -> None:
        settings = self.node.settings
        headers = {"Authorization": f"Bearer {settings.hub_token}"}
        with httpx.Client(base_url=str(settings.hub_url).rstrip("/"), headers=headers,
                          timeout=10) as http:
            while not self._stop.is_set():
                self._wake.clear()
                try:
                    # Other server processes of this node (--workers) learn of crisis modes
                    # from the shared store here.
                    self.refresh_rules()
                    self.report_once(http)
                except (httpx.HTTPError, CordonError) as exc:
                    log.warning("incident reports: %s", str(exc) or type(exc).__name__)
                self._wake.wait(self.report_seconds)

    def start(self) -> None:
        self.refresh_rules()
        if not self.node.settings.hub_url or not self.node.settings.hub_token:
            return
        self._thread = threading.Thread(target=self.run, name="cordon-incidents", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
