"""Who is looking at a page: the logged-in user of the request's session, and the
dependencies pages use to require a login or a role."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from cordon.web import csrf
from cordon.web.bodies import read_form
from cordon.web.sessions import COOKIE, SessionRow


@dataclass(frozen=True)
class WebUser:
    """A logged-in person (or API token) as pages see it.

    `subject` is what the service's own code needs to act for them: on the hub the
    `MemberRow` the user acts as, on the node the user or token name.
    """

    name: str
    role: str
    via_token: bool
    session: SessionRow
    subject: Any = None

    @property
    def csrf_token(self) -> str:
        return self.session.csrf_token


class LoginRequired(Exception):
    """No live session: the page sends the browser to the login form."""


class Forbidden(Exception):
    """A logged-in user without the role a page needs (403)."""

    def __init__(self, message: str = "your role cannot open this page") -> None:
        super().__init__(message)


class NotFound(Exception):
    def __init__(self, message: str = "no such page") -> None:
        super().__init__(message)


async def optional_user(request: Request) -> WebUser | None:
    cached = getattr(request.state, "web_user", None)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    ui = request.app.state.ui
    session_id = request.cookies.get(COOKIE)
    if not session_id:
        return None
    user: WebUser | None = await run_in_threadpool(ui.resolve_session, session_id)
    request.state.web_user = user
    return user


async def current_user(request: Request) -> WebUser:
    user = await optional_user(request)
    if user is None:
        raise LoginRequired()
    return user


def require_role(*roles: str) -> Callable[..., Awaitable[WebUser]]:
    """A dependency that lets through users with one of `roles` and answers 403 to others.

        @router.get("/ui/members")
        def members(user: Annotated[WebUser, Depends(require_role("admin"))]) -> ...
    """

    async def check(request: Request) -> WebUser:
        user = await current_user(request)
        if user.role not in roles:
            raise Forbidden(f"this page is for the role{'s' if len(roles) > 1 else ''} "
                            f"{', '.join(roles)}; you are {user.role}")
        return user

    return check


async def checked_form(request: Request) -> FormData:
    """The POSTed form, once its CSRF token is the session's (else 403)."""
    user = await current_user(request)
    settings = request.app.state.ui.settings
    form = await read_form(request, upload_limit=settings.max_form_upload_bytes)
    csrf.check(user.csrf_token, form)
    return form


CurrentUser = Annotated[WebUser, Depends(current_user)]
OptionalUser = Annotated[WebUser | None, Depends(optional_user)]
CheckedForm = Annotated[FormData, Depends(checked_form)]
Admin = Annotated[WebUser, Depends(require_role("admin"))]
