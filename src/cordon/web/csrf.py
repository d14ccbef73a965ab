"""CSRF protection: the synchronizer token pattern.

Each session has a random token (`web_sessions.csrf_token`); every page renders it into its
forms as the hidden field `csrf_token`, and every state-changing POST must send it back. The
login form, which comes before any session, uses a double-submit cookie instead.
"""

from __future__ import annotations

import hmac
import secrets

from starlette.datastructures import FormData

FIELD = "csrf_token"
LOGIN_COOKIE = "cordon_login_csrf"


class CsrfError(Exception):
    """The form's token is missing or is not the session's."""


def check(expected: str | None, form: FormData) -> None:
    sent = form.get(FIELD)
    if not expected or not isinstance(sent, str) or not hmac.compare_digest(
            sent.encode(), expected.encode()):
        raise CsrfError("the form's security token is missing or out of date: reload the "
                        "page and try again")


def new_login_token() -> str:
    return secrets.token_urlsafe(32)
