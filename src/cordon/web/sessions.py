"""Server-side sessions: an opaque random id in a cookie, a row in `web_sessions` keyed by
the id's SHA-256 digest, idle and absolute expiry, and the session's CSRF token."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, insert, select, update

from cordon.store import Store
from cordon.store.types import utcnow
from cordon.store.web_models import web_sessions
from cordon.web.settings import WebSettings

COOKIE = "cordon_session"
# The last-seen time is written at most this often: a page view is then a read, not a write.
_TOUCH_SECONDS = 30


@dataclass(frozen=True)
class SessionRow:
    digest: str
    realm: str
    user_id: int | None
    token_digest: str | None
    principal: str
    csrf_token: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime


def session_digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8", "surrogatepass")).hexdigest()


class Sessions:
    def __init__(self, store: Store, realm: str, settings: WebSettings) -> None:
        self.store = store
        self.realm = realm
        self.settings = settings

    def open(self, *, principal: str, user_id: int | None = None,
             token_digest: str | None = None, client: str | None = None) -> str:
        """A new session; returns its id (to be set in the cookie, never stored)."""
        session_id = secrets.token_urlsafe(32)
        now = utcnow()
        with self.store.plain_write() as conn:
            # Expired sessions go as new ones come: no separate clean-up job.
            conn.execute(delete(web_sessions).where(web_sessions.c.expires_at < now))
            conn.execute(insert(web_sessions), {
                "digest": session_digest(session_id), "realm": self.realm,
                "user_id": user_id, "token_digest": token_digest, "principal": principal,
                "csrf_token": secrets.token_urlsafe(32), "created_at": now,
                "last_seen_at": now,
                "expires_at": now + timedelta(seconds=self.settings.absolute_seconds),
                "client": client[:100] if client else None,
            })
        return session_id

    def get(self, session_id: str | None) -> SessionRow | None:
        """The live session of this id, its last-seen time moved on; None when the id is
        unknown, of the other realm, idle too long or past its absolute expiry."""
        if not session_id or len(session_id) > 100:
            return None
        digest = session_digest(session_id)
        with self.store.read() as conn:
            row = conn.execute(select(web_sessions).where(
                web_sessions.c.digest == digest, web_sessions.c.realm == self.realm)).first()
        if row is None:
            return None
        now = utcnow()
        idle = timedelta(seconds=self.settings.idle_seconds)
        if now >= row.expires_at or now - row.last_seen_at >= idle:
            self.close(session_id)
            return None
        if (now - row.last_seen_at).total_seconds() >= _TOUCH_SECONDS:
            with self.store.plain_write() as conn:
                conn.execute(update(web_sessions).where(web_sessions.c.digest == digest)
                             .values(last_seen_at=now))
        return SessionRow(row.digest, row.realm, row.user_id, row.token_digest, row.principal,
                          row.csrf_token, row.created_at, now, row.expires_at)

    def close(self, session_id: str) -> None:
        with self.store.plain_write() as conn:
            conn.execute(delete(web_sessions).where(
                web_sessions.c.digest == session_digest(session_id)))

    def close_all_of_user(self, user_id: int) -> None:
        with self.store.plain_write() as conn:
            conn.execute(delete(web_sessions).where(web_sessions.c.user_id == user_id))
