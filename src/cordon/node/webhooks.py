"""The delivery worker: drains the webhook outbox, signs each delivery, retries failures with
exponential backoff for as long as `retry_for`, and records every outcome. Rows are marked
delivered only after the receiver answered 2xx; a node that stops in between delivers again
after restart, with the same `X-Cordon-Delivery` id so that receivers can drop the repeat."""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select, update

from cordon.errors import CordonError
from cordon.node.service import Node
from cordon.node.signing import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    sign,
)
from cordon.store.models import node_outbox, node_webhooks
from cordon.store.types import utcnow

log = logging.getLogger("cordon.node.webhooks")

_BATCH = 50


def backoff(attempts: int, base: float, ceiling: float) -> float:
    """Seconds before the next attempt after `attempts` failures."""
    return float(min(ceiling, base * (2 ** max(0, attempts - 1))))


class DeliveryWorker:
    def __init__(self, node: Node) -> None:
        self.node = node
        self.settings = node.settings
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def drain_once(self, http: httpx.Client) -> int:
        """Attempt every delivery that is due; returns how many were attempted."""
        now = utcnow()
        with self.node.store.read() as conn:
            due = conn.execute(
                select(node_outbox.c.id, node_outbox.c.event, node_outbox.c.body,
                       node_outbox.c.attempts, node_outbox.c.created_at,
                       node_webhooks.c.url, node_webhooks.c.secret, node_webhooks.c.deleted_at)
                .join(node_webhooks, node_webhooks.c.id == node_outbox.c.webhook_id)
                .where(node_outbox.c.status == "pending", node_outbox.c.next_attempt_at <= now)
                .order_by(node_outbox.c.id).limit(_BATCH)).all()
        for row in due:
            if self._stop.is_set():
                break
            if row.deleted_at is not None:
                self._finish(row.id, "failed", row.attempts, None, "the webhook was deleted")
                continue
            self._attempt(http, row)
        return len(due)

    def _attempt(self, http: httpx.Client, row: Any) -> None:
        body = row.body.encode()
        timestamp = str(int(time.time()))
        headers = {"Content-Type": "application/json", TIMESTAMP_HEADER: timestamp,
                   SIGNATURE_HEADER: sign(row.secret, timestamp, body),
                   EVENT_HEADER: row.event,
                   DELIVERY_HEADER: str(row.id)}
        attempts = row.attempts + 1
        status: int | None = None
        error: str | None = None
        try:
            # No redirects: a receiver moved elsewhere is re-registered, not followed.
            response = http.post(row.url, content=body, headers=headers,
                                 timeout=self.settings.delivery_timeout, follow_redirects=False)
            status = response.status_code
            if 200 <= status < 300:
                self._finish(row.id, "delivered", attempts, status, None)
                return
            error = f"the receiver answered {status}"
        except httpx.HTTPError as exc:
            error = f"cannot reach the receiver ({exc.__class__.__name__})"
        age = (utcnow() - row.created_at).total_seconds()
        if age >= self.settings.retry_for:
            self._finish(row.id, "failed", attempts, status, error)
            return
        wait = backoff(attempts, self.settings.retry_base, self.settings.retry_max)
        with self.node.plain_write() as conn:
            conn.execute(update(node_outbox).where(node_outbox.c.id == row.id).values(
                attempts=attempts, last_status=status, last_error=error,
                next_attempt_at=utcnow() + timedelta(seconds=wait)))

    def _finish(self, outbox_id: int, state: str, attempts: int, status: int | None,
                error: str | None) -> None:
        with self.node.plain_write() as conn:
            conn.execute(update(node_outbox).where(node_outbox.c.id == outbox_id).values(
                status=state, attempts=attempts, last_status=status, last_error=error,
                delivered_at=utcnow() if state == "delivered" else None))

    def next_due(self) -> float | None:
        with self.node.store.read() as conn:
            when = conn.execute(select(node_outbox.c.next_attempt_at).where(
                node_outbox.c.status == "pending").order_by(
                node_outbox.c.next_attempt_at).limit(1)).scalar_one_or_none()
        return None if when is None else max(0.0, (when - utcnow()).total_seconds())

    def run(self) -> None:
        with httpx.Client() as http:
            while not self._stop.is_set():
                try:
                    self.node.outbox_ready.clear()
                    attempted = self.drain_once(http)
                    if attempted >= _BATCH:
                        continue
                    wait = self.next_due()
                except CordonError as exc:  # the store is busy or down: try again soon
                    log.warning("webhook deliveries: %s", exc)
                    wait = 1.0
                self.node.outbox_ready.wait(min(wait if wait is not None else 60.0, 60.0))

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="cordon-webhooks", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self.node.outbox_ready.set()
        if self._thread is not None:
            self._thread.join(timeout)
