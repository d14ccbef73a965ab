"""What differs between the hub's UI and the node's: how an API token logs in, what a
session stands for (a hub member, a node role), and what a login leaves in the audit."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

from cordon.web.auth import WebUser
from cordon.web.sessions import SessionRow
from cordon.web.users import UserRow


@dataclass(frozen=True)
class TokenLogin:
    """Who an API token belongs to, as a session remembers it."""

    principal: str
    token_digest: str


class Realm(ABC):
    #: "hub" or "node": tells users and sessions of the two services apart.
    name: str
    #: Shown in the page title and header.
    title: str
    #: Roles, most powerful first.
    roles: tuple[str, ...]

    @abstractmethod
    def token_login(self, token: str) -> TokenLogin | None:
        """The token's owner when it is a live API token of this service."""

    @abstractmethod
    def user_of(self, session: SessionRow, user: UserRow | None) -> WebUser | None:
        """The session's user with their current role (None when the user, their member or
        the token is gone): roles and revocations take effect at the next request."""

    def audit(self, user: WebUser, action: str, client: str | None) -> None:  # noqa: B027
        """Record a login or logout where the service keeps its audit (default: nowhere)."""
