"""The tables of the web UI (revision 0006_web): people who log in, their sessions, and the
failed logins that throttle password guessing.

A hub user acts as one hub member (and has that member's role); a node user carries a node
role. Session ids and API tokens are kept only as SHA-256 digests, passwords as argon2 hashes.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cordon.store.models import MEMBER_NAME_MAX, Base
from cordon.store.types import IdType, UTCDateTime

USER_NAME_MAX = 100
# "hub" or "node": the service a user or session belongs to (one database may hold both).
REALM_MAX = 8


class WebUser(Base):
    __tablename__ = "web_users"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    realm: Mapped[str] = mapped_column(String(REALM_MAX), nullable=False)
    name: Mapped[str] = mapped_column(String(USER_NAME_MAX), nullable=False)
    password_hash: Mapped[str] = mapped_column(Text, nullable=False)
    # Hub users act as this member, with its role.
    member_id: Mapped[int | None] = mapped_column(
        ForeignKey("hub_members.id", ondelete="CASCADE"), index=True
    )
    # Node users: their node role (admin, reviewer, ...).
    role: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (UniqueConstraint("realm", "name"),)


class WebSession(Base):
    """A logged-in browser. Either a user's session or one opened with an API token; the
    token's digest is kept so that revoking the token ends the session too."""

    __tablename__ = "web_sessions"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    realm: Mapped[str] = mapped_column(String(REALM_MAX), nullable=False)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("web_users.id", ondelete="CASCADE"), index=True
    )
    token_digest: Mapped[str | None] = mapped_column(String(64))
    # Who logged in, as shown (a user name, or the token's member / name).
    principal: Mapped[str] = mapped_column(String(MEMBER_NAME_MAX), nullable=False)
    csrf_token: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    client: Mapped[str | None] = mapped_column(String(100))


class WebLoginFailure(Base):
    """Failed logins of one key ("user:<realm>:<name>" or "addr:<realm>:<address>") within
    the current window."""

    __tablename__ = "web_login_failures"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, nullable=False)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


web_users = WebUser.__table__
web_sessions = WebSession.__table__
web_login_failures = WebLoginFailure.__table__
