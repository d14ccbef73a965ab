"""The hub side of logins: a hub user acts as a hub member, an API token logs in as its
member; either way the session has the member's current role."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from sqlalchemy import select

from cordon.hub.service import ROLES, WRITERS, Hub
from cordon.hub.tokens import digest
from cordon.store import hub_repository as hub_repo
from cordon.store.hub_repository import MemberRow
from cordon.store.models import hub_members
from cordon.web.auth import WebUser, require_role
from cordon.web.realm import Realm, TokenLogin
from cordon.web.sessions import SessionRow
from cordon.web.users import UserRow


class HubRealm(Realm):
    name = "hub"
    title = "Cordon hub"
    roles = ROLES

    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    def token_login(self, token: str) -> TokenLogin | None:
        member = self.hub.authenticate(token)
        return None if member is None else TokenLogin(member.name, digest(token))

    def user_of(self, session: SessionRow, user: UserRow | None) -> WebUser | None:
        with self.hub.store.read() as conn:
            if session.token_digest is not None:
                member = hub_repo.member_for_token(conn, session.token_digest)
            elif user is not None and user.member_id is not None:
                row = conn.execute(select(hub_members).where(
                    hub_members.c.id == user.member_id)).first()
                member = None if row is None else MemberRow(row.id, row.name, row.role,
                                                            row.created_at)
            else:
                member = None
        if member is None:
            return None
        return WebUser(session.principal, member.role, session.token_digest is not None,
                       session, member)

    def audit(self, user: WebUser, action: str, client: str | None) -> None:
        self.hub.audit(user.subject, action, f"ui-user:{user.name}", client,
                       {"via": "token" if user.via_token else "password"})


Writer = Annotated[WebUser, Depends(require_role(*WRITERS))]


def member_of(user: WebUser) -> MemberRow:
    """The hub member a page acts as."""
    member: MemberRow = user.subject
    return member
