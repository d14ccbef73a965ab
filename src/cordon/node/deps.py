"""Request dependencies: the node of the application and the token check."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from cordon.node.service import Node, NodeError

_bearer = HTTPBearer(auto_error=False, description="A node token: `Authorization: Bearer T`.")


class Unauthorized(NodeError):
    status = 401


def get_node(request: Request) -> Node:
    return request.app.state.node  # type: ignore[no-any-return]


async def caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise Unauthorized("missing bearer token: send Authorization: Bearer TOKEN")
    node: Node = request.app.state.node
    # From memory when the token cache is fresh; a reload reads the store off the event loop.
    if node.tokens.fresh():
        name = node.authenticate(credentials.credentials)
    else:
        name = await run_in_threadpool(node.authenticate, credentials.credentials)
    if name is None:
        raise Unauthorized("invalid or revoked token")
    return name


Caller = Annotated[str, Depends(caller)]
NodeDep = Annotated[Node, Depends(get_node)]
