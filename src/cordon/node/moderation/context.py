"""What every moderation module works with: the node (store, matcher, hub settings), the
settings, the vault of encrypted content and the clock (replaceable in tests)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cordon.node.moderation.settings import ModerationSettings
from cordon.node.moderation.vault import Vault
from cordon.node.service import Node, NodeError
from cordon.store import Store
from cordon.store.types import utcnow


class NotFound(NodeError):
    status = 404


class Conflict(NodeError):
    status = 409


class Forbidden(NodeError):
    status = 403


@dataclass
class Context:
    node: Node
    settings: ModerationSettings
    vault: Vault
    now: Callable[[], datetime] = field(default=utcnow)

    @property
    def store(self) -> Store:
        return self.node.store


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def row_dict(row: Any) -> dict[str, Any]:
    return dict(row._mapping)
