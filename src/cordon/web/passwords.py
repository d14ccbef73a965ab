"""Password hashes (argon2id, through argon2-cffi) of the web UI's users."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from cordon.errors import CordonError

PASSWORD_MIN = 8
PASSWORD_MAX = 1024

_hasher = PasswordHasher()
# Verified against when the user does not exist, so that an unknown name costs as much time
# as a wrong password and the answer time does not tell which names exist.
_DUMMY = _hasher.hash("not a password of anyone")


def check_password(password: str) -> str:
    if len(password) < PASSWORD_MIN:
        raise CordonError(f"the password needs at least {PASSWORD_MIN} characters")
    if len(password) > PASSWORD_MAX:
        raise CordonError(f"the password has at most {PASSWORD_MAX} characters")
    return password


def hash_password(password: str) -> str:
    return _hasher.hash(check_password(password))


def verify_password(stored: str | None, password: str) -> bool:
    """Whether `password` matches `stored` (None: no such user; still takes the time)."""
    if len(password) > PASSWORD_MAX:
        return False
    try:
        return _hasher.verify(stored or _DUMMY, password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    return _hasher.check_needs_rehash(stored)
