"""Rate limits of the public moderation routes: reports and appeals need no token, so each
client address gets a budget, and each notice code one more (an appeal page open in many
places, or a guessed code tried from many addresses). Callers with a valid token (the
platform filing for its users, trusted flaggers, staff) are known and revocable, and are
not limited here.

The buckets live in the memory of one process: a node run with `--workers N` allows up to N
times the rate, and behind a reverse proxy the address is the one the proxy forwards (see
docs/operations.md)."""

from __future__ import annotations

import hashlib

from fastapi import Request

from cordon.node.moderation.settings import ModerationSettings
from cordon.node.service import NodeError
from cordon.ratelimit import RateLimiter, retry_after


class RateLimited(NodeError):
    status = 429

    def __init__(self, message: str, wait: float) -> None:
        self.retry_after = retry_after(wait)
        super().__init__(f"{message}: try again in {self.retry_after} s")
        self.headers = {"Retry-After": self.retry_after}


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


class PublicLimits:
    def __init__(self, settings: ModerationSettings) -> None:
        self.reports = RateLimiter(settings.report_per_minute / 60, settings.report_burst)
        self.appeals = RateLimiter(settings.appeal_per_minute / 60, settings.appeal_burst)

    def report(self, address: str) -> None:
        """Raises RateLimited when this address filed too many reports."""
        wait = self.reports.take(f"address:{address}")
        if wait > 0:
            raise RateLimited("too many reports from this address", wait)

    def refused_token(self, address: str) -> None:
        """A bad token on a public route spends the address's report budget: made-up tokens
        must not buy unlimited tries."""
        self.report(address)

    def appeal(self, address: str, code: str) -> None:
        """Raises RateLimited when this address, or this notice code, was used too often
        (reading a notice and appealing it both count)."""
        wait = self.appeals.take(f"address:{address}")
        if wait > 0:
            raise RateLimited("too many notice lookups or appeals from this address", wait)
        # Keyed by a digest: notice codes are secrets and stay out of long-lived memory.
        key = hashlib.sha256(code.encode("utf-8", "replace")).hexdigest()
        wait = self.appeals.take(f"code:{key}")
        if wait > 0:
            raise RateLimited("too many lookups or appeals of this notice", wait)
