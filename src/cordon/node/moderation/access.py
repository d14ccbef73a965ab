"""Node API tokens with roles: creating them, and who a bearer token is."""

from __future__ import annotations

from sqlalchemy import insert

from cordon.hub.tokens import digest
from cordon.node.roles import ROLES, Principal
from cordon.node.service import Node, NodeError, new_token
from cordon.store.models import node_tokens
from cordon.store.types import utcnow


def check_role(role: str) -> str:
    if role not in ROLES:
        raise NodeError(f"unknown role {role!r} (known: {', '.join(ROLES)})", 422)
    return role


def create_token(node: Node, name: str, role: str) -> tuple[int, str]:
    check_role(role)
    token = new_token()
    with node.plain_write() as conn:
        token_id = conn.execute(insert(node_tokens).values(
            name=name, digest=digest(token), created_at=utcnow(), role=role)
            .returning(node_tokens.c.id)).scalar_one()
    node.tokens.invalidate()  # usable at once, whatever the cache loaded a moment ago
    return token_id, token


def authenticate(node: Node, token: str) -> Principal | None:
    """From the node's token cache (a store read only when it is due for a reload)."""
    return node.principal(token)
