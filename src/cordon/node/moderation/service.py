"""Moderation of one node: the context every module works with, and the background work
(taking matches that rules send to review into the queue, purging what has been kept long
enough)."""

from __future__ import annotations

import logging
import threading

from cordon.node.moderation import clock, preservation, queue
from cordon.node.moderation.context import Context
from cordon.node.moderation.limits import PublicLimits
from cordon.node.moderation.settings import ModerationSettings, beside_store, from_env
from cordon.node.moderation.vault import Vault
from cordon.node.service import Node

log = logging.getLogger("cordon.node.moderation")
REVIEW_POLL_SECONDS = 1.0


class Moderation:
    def __init__(self, node: Node, settings: ModerationSettings | None = None) -> None:
        settings = settings or from_env()
        clock.zone(settings.timezone)  # an unknown zone stops the node at start, not later
        if node.store.dialect == "sqlite":
            settings = beside_store(settings, node.store.url.database)
        self.ctx = Context(node, settings, Vault(settings))
        self.limits = PublicLimits(settings)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="cordon-moderation",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=15)
            self._thread = None

    def _run(self) -> None:
        every = self.ctx.settings.purge_every
        next_purge = 0.0
        import time

        while not self._stop.is_set():
            try:
                queue.sync_review_matches(self.ctx)
                if every > 0 and time.monotonic() >= next_purge:
                    done = preservation.purge(self.ctx)
                    if done["purged"]:
                        log.info("purged %d preserved items", done["purged"])
                    next_purge = time.monotonic() + every
            except Exception:  # the loop outlives a database hiccup; the next turn retries
                log.exception("moderation background work failed")
            self._stop.wait(REVIEW_POLL_SECONDS)
