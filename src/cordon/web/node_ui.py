"""The node's UI: logins (node users with a node role, or a node API token), the layout,
and a home page that the node's own pages extend (see docs/ui.md)."""

from __future__ import annotations

from types import ModuleType

from fastapi import APIRouter, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from sqlalchemy import select

from cordon.hub.tokens import digest
from cordon.node.roles import ROLES
from cordon.node.service import Node, NodeError
from cordon.store.models import node_tokens
from cordon.web.auth import CurrentUser, WebUser
from cordon.web.mount import NavItem, WebUi, add_pages, html_errors_for, mount_ui
from cordon.web.node import bank_files as bank_file_pages
from cordon.web.node import banks as bank_pages
from cordon.web.node import debugger as debugger_pages
from cordon.web.node import incidents as incident_pages
from cordon.web.node import moderation as moderation_pages
from cordon.web.node import rules as rule_pages
from cordon.web.node import streams as stream_pages
from cordon.web.node import webhooks as webhook_pages
from cordon.web.node.dashboard import load_dashboard
from cordon.web.realm import Realm, TokenLogin
from cordon.web.sessions import SessionRow
from cordon.web.settings import WebSettings
from cordon.web.templates import render
from cordon.web.users import UserRow

ADMIN = "admin"


def node_roles() -> tuple[str, ...]:
    """The roles of node users: those of node tokens (`cordon.node.roles`)."""
    return tuple(ROLES)


class NodeRealm(Realm):
    name = "node"
    title = "Cordon node"

    def __init__(self, node: Node) -> None:
        self.node = node
        self.roles = node_roles()

    def token_login(self, token: str) -> TokenLogin | None:
        name = self.node.authenticate(token)
        return None if name is None else TokenLogin(name, digest(token))

    def _token_role(self, token_digest: str) -> str | None:
        with self.node.store.read() as conn:
            role = conn.execute(select(node_tokens.c.role).where(
                node_tokens.c.digest == token_digest,
                node_tokens.c.revoked_at.is_(None))).scalar_one_or_none()
        # Tokens made before roles existed are admins.
        return None if role is None else str(role or ADMIN)

    def user_of(self, session: SessionRow, user: UserRow | None) -> WebUser | None:
        if session.token_digest is not None:
            role = self._token_role(session.token_digest)
            if role is None:
                return None
            return WebUser(session.principal, role, True, session, session.principal)
        if user is None or not user.role:
            return None
        return WebUser(user.name, user.role, False, session, user.name)


router = APIRouter(prefix="/ui", include_in_schema=False)
NAV = (NavItem("/ui/", "Dashboard", order=10),)
# Modules of node pages, each with a `router` and its `NAV` links (see docs/ui.md).
PAGE_MODULES: tuple[ModuleType, ...] = (incident_pages, debugger_pages, bank_pages,
                                        bank_file_pages, rule_pages, webhook_pages,
                                        stream_pages, moderation_pages)


@router.get("/", response_class=HTMLResponse)
async def home(request: Request, user: CurrentUser) -> HTMLResponse:
    """The dashboard: matches per hour, actions, the hub mirror's lag, what is indexed."""
    node: Node = request.app.state.node
    follower = getattr(request.app.state, "follower", None)
    data = await run_in_threadpool(load_dashboard, node, follower)
    return render(request, "node/home.html", **data)


def mount_node_ui(app: FastAPI, node: Node, settings: WebSettings | None = None) -> WebUi:
    """The node's UI at /ui; call after the API's error handlers are registered."""
    ui = mount_ui(app, NodeRealm(node), node.store, settings)
    add_pages(app, router, *NAV)
    for module in PAGE_MODULES:
        add_pages(app, module.router, *module.NAV)
    html_errors_for(app, NodeError, lambda exc: exc.status)
    return ui
