"""Node API tokens with roles: creating them, and who a bearer token is."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import insert, select

from cordon.hub.tokens import digest
from cordon.node.roles import ROLES
from cordon.node.service import Node, NodeError, new_token
from cordon.store.models import node_tokens
from cordon.store.types import utcnow


@dataclass(frozen=True)
class Principal:
    name: str
    role: str


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
    return token_id, token


def authenticate(node: Node, token: str) -> Principal | None:
    with node.store.read() as conn:
        row = conn.execute(select(node_tokens.c.name, node_tokens.c.role).where(
            node_tokens.c.digest == digest(token), node_tokens.c.revoked_at.is_(None))).first()
    return None if row is None else Principal(row.name, row.role)
