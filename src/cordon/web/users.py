"""The people who log in to the web UI: one table for the hub's and the node's users,
told apart by realm. A hub user acts as a hub member; a node user has a node role."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError

from cordon.banks.records import check_bank_name
from cordon.errors import CordonError
from cordon.store import Store
from cordon.store.types import utcnow
from cordon.store.web_models import USER_NAME_MAX, web_sessions, web_users
from cordon.web.passwords import hash_password, needs_rehash, verify_password


@dataclass(frozen=True)
class UserRow:
    id: int
    realm: str
    name: str
    member_id: int | None
    role: str | None
    created_at: datetime
    disabled: bool


def _user(row: Any) -> UserRow:
    return UserRow(row.id, row.realm, row.name, row.member_id, row.role,
                   row.created_at, row.disabled_at is not None)


def check_user_name(name: str) -> str:
    try:
        return check_bank_name(name)
    except CordonError:
        raise CordonError(
            f"invalid user name {name!r}: use letters, digits, '.', '_' or '-' "
            f"(up to {USER_NAME_MAX} characters, starting with a letter or digit)"
        ) from None


class Users:
    def __init__(self, store: Store, realm: str) -> None:
        self.store = store
        self.realm = realm

    def add(self, name: str, password: str, *, member_id: int | None = None,
            role: str | None = None) -> UserRow:
        check_user_name(name)
        hashed = hash_password(password)
        now = utcnow()
        try:
            with self.store.plain_write() as conn:
                if self._find(conn, name) is not None:
                    raise CordonError(f"a user named {name!r} already exists")
                user_id = conn.execute(insert(web_users).returning(web_users.c.id), {
                    "realm": self.realm, "name": name, "password_hash": hashed,
                    "member_id": member_id, "role": role, "created_at": now,
                }).scalar_one()
        except IntegrityError:
            raise CordonError(f"a user named {name!r} already exists") from None
        return UserRow(user_id, self.realm, name, member_id, role, now, False)

    def _find(self, conn: Connection, name: str) -> Any:
        return conn.execute(select(web_users).where(
            web_users.c.realm == self.realm, web_users.c.name == name)).first()

    def find(self, name: str) -> UserRow | None:
        with self.store.read() as conn:
            row = self._find(conn, name)
        return None if row is None else _user(row)

    def get(self, user_id: int) -> UserRow | None:
        with self.store.read() as conn:
            row = conn.execute(select(web_users).where(
                web_users.c.id == user_id, web_users.c.realm == self.realm)).first()
        return None if row is None else _user(row)

    def list(self) -> list[UserRow]:
        with self.store.read() as conn:
            rows = conn.execute(select(web_users).where(web_users.c.realm == self.realm)
                                .order_by(web_users.c.name)).all()
        return [_user(row) for row in rows]

    def authenticate(self, name: str, password: str) -> UserRow | None:
        """The user when the password is right and the user is enabled; None otherwise."""
        with self.store.read() as conn:
            row = self._find(conn, name) if len(name) <= USER_NAME_MAX else None
        stored = None if row is None else row.password_hash
        if not verify_password(stored, password) or row is None:
            return None
        user = _user(row)
        if user.disabled:
            return None
        if stored and needs_rehash(stored):
            self.set_password(name, password)
        return user

    def set_password(self, name: str, password: str) -> None:
        hashed = hash_password(password)
        with self.store.plain_write() as conn:
            done = conn.execute(update(web_users).where(
                web_users.c.realm == self.realm, web_users.c.name == name,
            ).values(password_hash=hashed)).rowcount
        if not done:
            raise CordonError(f"no user named {name!r}")

    def disable(self, name: str) -> None:
        with self.store.plain_write() as conn:
            row = self._find(conn, name)
            if row is None:
                raise CordonError(f"no user named {name!r}")
            conn.execute(update(web_users).where(web_users.c.id == row.id)
                         .values(disabled_at=utcnow()))
            conn.execute(web_sessions.delete().where(
                web_sessions.c.user_id == row.id))
