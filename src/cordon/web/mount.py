"""Mounting the web UI into a FastAPI application at /ui: static files, the login and
logout pages, HTML error pages, and the registry of navigation entries other page modules
add themselves to (see docs/ui.md)."""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from importlib import resources
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from cordon.errors import CordonError
from cordon.store import Store, StoreError
from cordon.web import csrf
from cordon.web.auth import Forbidden, LoginRequired, NotFound, OptionalUser, WebUser
from cordon.web.bodies import TooLarge, read_form
from cordon.web.realm import Realm
from cordon.web.sessions import COOKIE, Sessions
from cordon.web.settings import WebSettings
from cordon.web.templates import SECURITY_HEADERS, redirect, render
from cordon.web.throttle import LoginThrottle
from cordon.web.users import Users

PREFIX = "/ui"
NAME_MAX = 100
SECRET_MAX = 1024


@dataclass(frozen=True)
class NavItem:
    """A link of the header's navigation, shown to the given roles (None: everyone)."""

    href: str
    label: str
    roles: tuple[str, ...] | None = None
    # Orders the links; core pages use multiples of 10.
    order: int = 100


@dataclass
class WebUi:
    """The UI of one application (`app.state.ui`)."""

    realm: Realm
    store: Store
    settings: WebSettings
    users: Users = field(init=False)
    sessions: Sessions = field(init=False)
    throttle: LoginThrottle = field(init=False)
    nav: list[NavItem] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.users = Users(self.store, self.realm.name)
        self.sessions = Sessions(self.store, self.realm.name, self.settings)
        self.throttle = LoginThrottle(self.store, self.realm.name, self.settings)

    def nav_for(self, user: WebUser | None) -> list[NavItem]:
        if user is None:
            return []
        return sorted((item for item in self.nav if item.roles is None or user.role in item.roles),
                      key=lambda item: (item.order, item.label))

    def resolve_session(self, session_id: str) -> WebUser | None:
        session = self.sessions.get(session_id)
        if session is None:
            return None
        user = self.users.get(session.user_id) if session.user_id is not None else None
        if session.user_id is not None and (user is None or user.disabled):
            self.sessions.close(session_id)
            return None
        found = self.realm.user_of(session, user)
        if found is None:
            self.sessions.close(session_id)
        return found


def add_pages(app: FastAPI, router: APIRouter, *nav: NavItem) -> None:
    """Add a router of pages (paths under /ui) and its navigation links to the UI."""
    app.include_router(router)
    app.state.ui.nav.extend(nav)


def client_address(request: Request) -> str | None:
    return request.client.host if request.client else None


def _safe_next(target: str | None) -> str:
    # Only paths of this UI: an open redirect would make the login page a phishing tool.
    if (not target or not target.startswith(PREFIX) or target.startswith("//")
            or "\\" in target or len(target) > 2000):
        return PREFIX + "/"
    return target


def _login_page(request: Request, status_code: int = 200, error: str | None = None,
                name: str = "", next_url: str = "") -> Response:
    token = csrf.new_login_token()
    response = render(request, "login.html", status_code=status_code, error=error,
                      login_csrf=token, name=name, next_url=_safe_next(next_url))
    response.set_cookie(csrf.LOGIN_COOKIE, token, path=PREFIX, httponly=True, samesite="lax",
                        secure=request.url.scheme == "https")
    return response


def _login_router(ui: WebUi) -> APIRouter:
    router = APIRouter(prefix=PREFIX, include_in_schema=False)

    @router.get("/login")
    async def login_form(request: Request, user: OptionalUser,
                         next: str = "") -> Response:
        if user is not None:
            return RedirectResponse(_safe_next(next), status_code=303)
        return _login_page(request, next_url=next)

    @router.post("/login")
    async def login(request: Request) -> Response:
        form = await read_form(request)
        try:
            csrf.check(request.cookies.get(csrf.LOGIN_COOKIE), form)
        except csrf.CsrfError as exc:
            return _login_page(request, 403, str(exc))
        next_url = str(form.get("next") or "")
        token = str(form.get("token") or "").strip()
        name = str(form.get("username") or "").strip()[:NAME_MAX]
        password = str(form.get("password") or "")
        address = client_address(request)
        # Token logins are throttled per address only; the name key stands for "some token".
        throttle_name = "(token)" if token else name
        if not token and (not name or not password):
            return _login_page(request, 422, "give a user name and a password, or an API token",
                               name, next_url)
        wait = await run_in_threadpool(ui.throttle.wait, throttle_name, address)
        if wait > 0:
            minutes = max(1, round(wait / 60))
            response = _login_page(
                request, 429, f"too many failed logins: try again in about {minutes} "
                f"minute{'s' if minutes > 1 else ''}", name, next_url)
            response.headers["Retry-After"] = str(int(wait) + 1)
            return response
        if token:
            found = (await run_in_threadpool(ui.realm.token_login, token)
                     if len(token) <= SECRET_MAX else None)
            session_args: dict[str, Any] = (
                {} if found is None else
                {"principal": found.principal, "token_digest": found.token_digest})
        else:
            user = await run_in_threadpool(ui.users.authenticate, name, password[:SECRET_MAX + 1])
            session_args = {} if user is None else {"principal": user.name, "user_id": user.id}
        if not session_args:
            await run_in_threadpool(ui.throttle.failed, throttle_name, address)
            what = "token" if token else "user name or password"
            return _login_page(request, 401, f"wrong {what}", name, next_url)
        if not token:
            await run_in_threadpool(ui.throttle.succeeded, name)
        session_id = await run_in_threadpool(
            lambda: ui.sessions.open(client=address, **session_args))
        logged_in = await run_in_threadpool(ui.resolve_session, session_id)
        if logged_in is None:  # the member or token vanished in between
            return _login_page(request, 401, "this account cannot log in", name, next_url)
        await run_in_threadpool(ui.realm.audit, logged_in, "ui.login", address)
        response = redirect(_safe_next(next_url))
        response.set_cookie(COOKIE, session_id, path=PREFIX, httponly=True, samesite="lax",
                            secure=request.url.scheme == "https")
        response.delete_cookie(csrf.LOGIN_COOKIE, path=PREFIX)
        return response

    @router.post("/logout")
    async def logout(request: Request, user: OptionalUser) -> Response:
        session_id = request.cookies.get(COOKIE)
        if user is not None and session_id:
            form = await read_form(request)
            try:
                csrf.check(user.csrf_token, form)
            except csrf.CsrfError as exc:
                raise Forbidden(str(exc)) from None
            await run_in_threadpool(ui.sessions.close, session_id)
            await run_in_threadpool(ui.realm.audit, user, "ui.logout", client_address(request))
        response = redirect(f"{PREFIX}/login", "You are logged out.")
        response.delete_cookie(COOKIE, path=PREFIX)
        return response

    return router


def _error_page(request: Request, status: int, message: str) -> Response:
    return render(request, "error.html", status_code=status, status=status, message=message)


def mount_ui(app: FastAPI, realm: Realm, store: Store,
             settings: WebSettings | None = None) -> WebUi:
    """Give `app` a UI at /ui (login, logout, static files, error pages); pages are added
    with `add_pages`. `/` redirects to the UI."""
    ui = WebUi(realm, store, settings or WebSettings.from_environment())
    app.state.ui = ui
    static = resources.files("cordon.web") / "static"
    app.mount(f"{PREFIX}/static", StaticFiles(directory=str(static)), name="ui-static")
    app.include_router(_login_router(ui))

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse(f"{PREFIX}/", status_code=307)

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, _exc: LoginRequired) -> Response:
        if request.method == "GET":
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"{PREFIX}/login?next={quote(target, safe='')}",
                                    status_code=303, headers=SECURITY_HEADERS)
        return _error_page(request, 401, "your session has ended: log in again")

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, exc: Forbidden) -> Response:
        return _error_page(request, 403, str(exc))

    @app.exception_handler(csrf.CsrfError)
    async def bad_csrf(request: Request, exc: csrf.CsrfError) -> Response:
        return _error_page(request, 403, str(exc))

    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound) -> Response:
        return _error_page(request, 404, str(exc))

    @app.exception_handler(TooLarge)
    async def too_large(request: Request, exc: TooLarge) -> Response:
        return _error_page(request, 413, str(exc))

    # The API's own errors keep their JSON shape; under /ui they become pages.
    html_errors_for(app, StarletteHTTPException, lambda exc: exc.status_code,
                    lambda exc: "no such page" if exc.status_code == 404 else str(exc.detail))
    html_errors_for(app, RequestValidationError, lambda _exc: 422, _invalid_message)
    html_errors_for(app, StoreError, lambda _exc: 503)
    html_errors_for(app, CordonError, lambda _exc: 422)
    return ui


def _invalid_message(exc: RequestValidationError) -> str:
    errors = exc.errors()
    if not errors:
        return "the request is not valid"
    first = errors[0]
    where = " ".join(str(part) for part in first.get("loc", ()) if part not in ("query",
                                                                                 "path", "body"))
    return f"{where}: {first.get('msg', 'invalid value')}" if where else str(first.get("msg"))


def html_errors_for(app: FastAPI, error_class: type[Exception], status_of: Any,
                    message_of: Any = str) -> None:
    """Answer `error_class` (raised by the service's own code) with an HTML page under /ui,
    and as before (the API's JSON) elsewhere."""
    previous = app.exception_handlers.get(error_class)

    async def handler(request: Request, exc: Exception) -> Response:
        if request.url.path.startswith(PREFIX + "/") or previous is None:
            return _error_page(request, status_of(exc), message_of(exc))
        response = previous(request, exc)
        return await response if inspect.isawaitable(response) else response

    app.add_exception_handler(error_class, handler)

