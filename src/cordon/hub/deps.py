"""Request dependencies: the hub of the application, the authenticated member, its address."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from cordon.hub.errors import HubError, Unauthorized
from cordon.hub.service import Hub
from cordon.hub.tokens import digest
from cordon.ratelimit import RateLimiter, retry_after
from cordon.store.hub_repository import MemberRow

_bearer = HTTPBearer(auto_error=False, description="A member token: `Authorization: Bearer T`.")


def get_hub(request: Request) -> Hub:
    return request.app.state.hub  # type: ignore[no-any-return]


def client_address(request: Request) -> str | None:
    return request.client.host if request.client else None


class RateLimited(HubError):
    status = 429

    def __init__(self, wait: float) -> None:
        super().__init__("too many requests with this token: slow down")
        self.retry_after = retry_after(wait)


async def current_member(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> MemberRow:
    limiter: RateLimiter = request.app.state.limiter
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        _limit_refusals(request, limiter)
        raise Unauthorized("missing bearer token: send Authorization: Bearer TOKEN")
    token = credentials.credentials
    # Keyed by the token's digest: the token itself stays out of every data structure.
    key = digest(token)
    wait = limiter.take(key)
    if wait > 0:
        raise RateLimited(wait)
    hub: Hub = request.app.state.hub
    member = await run_in_threadpool(hub.authenticate, token)
    if member is None:
        # For the audit record of the refusal (`cordon.hub.denials`): a revoked token
        # still names its member.
        request.state.refused_token_digest = key
        _limit_refusals(request, limiter)
        raise Unauthorized("invalid or revoked token")
    request.state.member = member.name
    request.state.member_row = member
    return member


def _limit_refusals(request: Request, limiter: RateLimiter) -> None:
    """Requests without a valid token share one budget per client address: each refusal is
    an audit record, and new made-up tokens would otherwise each get a fresh budget. Over
    it, the answer is 429 and nothing is recorded."""
    wait = limiter.take(f"refused:{client_address(request)}")
    if wait > 0:
        raise RateLimited(wait)


Member = Annotated[MemberRow, Depends(current_member)]
HubDep = Annotated[Hub, Depends(get_hub)]
Client = Annotated[str | None, Depends(client_address)]
