"""The audit record of a refused request (401, 403): who tried, from where, what.

Refusals are what an audit of a shared database is most often asked about (a leaked token
tried from elsewhere, a member probing banks it may not see), so they are recorded like
writes. The record holds the member when it is known (an authenticated member refused by
role or sharing, or the owner of a revoked token), the method and path, the status and the
reason given; never the token, nor the query string (where cursors and filters go).
"""

from __future__ import annotations

import logging

from fastapi import Request
from fastapi.concurrency import run_in_threadpool

from cordon.hub.errors import HubError
from cordon.hub.service import Hub
from cordon.store.hub_repository import MemberRow

log = logging.getLogger("cordon.hub")

# The longest path kept in a record: paths are chosen by the client.
PATH_MAX = 300
ACTIONS = {401: "request.unauthenticated", 403: "request.forbidden"}


async def audit_refusal(request: Request, exc: HubError) -> None:
    """Record a 401 or 403 answer; a failure to record is logged, never turned into a
    different answer to the client."""
    action = ACTIONS.get(exc.status)
    if action is None:
        return
    hub: Hub = request.app.state.hub
    member: MemberRow | None = getattr(request.state, "member_row", None)
    detail: dict[str, object] = {"status": exc.status, "reason": str(exc)[:500]}
    digest: str | None = getattr(request.state, "refused_token_digest", None)
    client = request.client.host if request.client else None
    target = f"{request.method} {request.url.path}"[:PATH_MAX]
    try:
        if member is None and digest is not None:
            owner = await run_in_threadpool(hub.token_owner, digest)
            if owner is not None:
                member, detail["token_id"] = owner
        await run_in_threadpool(hub.audit, member, action, target, client, detail)
    except Exception:  # the refusal stands whatever happens to its record
        log.exception("could not record the refusal of %s", target)
