"""Request dependencies: the node of the application, the token check and the role check
(`cordon.node.roles`; the matrix is in docs/api.md, "Roles")."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from cordon.node import roles
from cordon.node.roles import Principal
from cordon.node.service import Node, NodeError

_bearer = HTTPBearer(auto_error=False, description="A node token: `Authorization: Bearer T`.")


class Unauthorized(NodeError):
    status = 401


class Forbidden(NodeError):
    status = 403


def get_node(request: Request) -> Node:
    return request.app.state.node  # type: ignore[no-any-return]


async def principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise Unauthorized("missing bearer token: send Authorization: Bearer TOKEN")
    node: Node = request.app.state.node
    # From memory when the token cache is fresh; a reload reads the store off the event loop.
    if node.tokens.fresh():
        found = node.principal(credentials.credentials)
    else:
        found = await run_in_threadpool(node.principal, credentials.credentials)
    if found is None:
        raise Unauthorized("invalid or revoked token")
    return found


async def caller(who: Annotated[Principal, Depends(principal)]) -> str:
    """The name of a token of any role."""
    return who.name


def needs(allowed: frozenset[str]) -> Any:
    """A dependency that answers 403 unless the token's role is in `allowed`; gives the
    token's name."""
    async def dependency(who: Annotated[Principal, Depends(principal)]) -> str:
        if who.role not in allowed:
            raise Forbidden(f"this needs the role {' or '.join(sorted(allowed))}; the token "
                            f"has {who.role}")
        return who.name
    return Depends(dependency)


Caller = Annotated[str, Depends(caller)]
# admin: banks, rules, webhooks, crisis modes
AdminCaller = Annotated[str, needs(roles.MANAGE)]
# admin or service (the platform's systems): matching and hashing
PlatformCaller = Annotated[str, needs(roles.PLATFORM)]
# admin, service or reviewer: the match log and its evidence
MatchesCaller = Annotated[str, needs(roles.MATCHES)]
# admin or reviewer: feedback to the hub on a match (a human judgement)
ReviewCaller = Annotated[str, needs(roles.REVIEW)]
NodeDep = Annotated[Node, Depends(get_node)]
