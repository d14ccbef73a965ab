"""API tokens: random secrets shown once and stored only as a SHA-256 digest."""

from __future__ import annotations

import hashlib
import secrets

PREFIX = "cdh_"


def new_token() -> str:
    # 256 bits of randomness: a digest without salt is then as strong as a slow hash,
    # and lets every request find its token with one indexed lookup.
    return PREFIX + secrets.token_urlsafe(32)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()
