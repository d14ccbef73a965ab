"""Members, their API tokens and the UI's users (admins): add a member, issue and revoke
tokens, add users. New tokens are shown once, in the answer to the form that made them."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from cordon.errors import CordonError
from cordon.hub.service import ROLES, Hub
from cordon.store import hub_repository as hub_repo
from cordon.web.auth import Admin, CheckedForm
from cordon.web.hub.realm import member_of
from cordon.web.mount import NavItem, client_address
from cordon.web.templates import redirect, render

router = APIRouter(prefix="/ui", include_in_schema=False)
NAV = (NavItem("/ui/members", "Members", ("admin",), order=50),)


def _page(request: Request, status_code: int = 200, *, error: str | None = None,
          secret: dict[str, str] | None = None) -> HTMLResponse:
    hub: Hub = request.app.state.hub
    ui = request.app.state.ui
    members = hub.members()
    names = {m["id"]: m["name"] for m in _member_ids(hub)}
    users = [{"name": u.name, "member": names.get(u.member_id, "?"), "disabled": u.disabled}
             for u in ui.users.list()]
    return render(request, "hub/members.html", status_code=status_code, members=members,
                  users=users, roles=ROLES, error=error, secret=secret)


def _member_ids(hub: Hub) -> list[dict[str, object]]:
    with hub.store.read() as conn:
        return [{"id": i, "name": n} for i, n in hub_repo.member_names(conn).items()]


@router.get("/members", response_class=HTMLResponse)
async def members(request: Request, user: Admin) -> HTMLResponse:
    return await run_in_threadpool(_page, request)


@router.post("/members", response_class=HTMLResponse)
async def add_member(request: Request, user: Admin, form: CheckedForm) -> HTMLResponse:
    hub: Hub = request.app.state.hub
    name = str(form.get("name") or "").strip()
    role = str(form.get("role") or "")

    def add() -> HTMLResponse:
        try:
            member, token_id, token = hub.add_member(
                name, role, actor=member_of(user), client=client_address(request) or "ui")
        except CordonError as exc:
            return _page(request, 422, error=str(exc))
        return _page(request, 201, secret={"member": member.name, "id": str(token_id),
                                           "token": token})

    return await run_in_threadpool(add)


@router.post("/members/{name}/tokens", response_class=HTMLResponse)
async def issue_token(name: str, request: Request, user: Admin,
                      form: CheckedForm) -> HTMLResponse:
    hub: Hub = request.app.state.hub

    def issue() -> HTMLResponse:
        try:
            token_id, token = hub.issue_token(name, actor=member_of(user),
                                              client=client_address(request) or "ui")
        except CordonError as exc:
            return _page(request, 404, error=str(exc))
        return _page(request, 201, secret={"member": name, "id": str(token_id), "token": token})

    return await run_in_threadpool(issue)


@router.post("/tokens/{token_id}/revoke")
async def revoke_token(token_id: int, request: Request, user: Admin,
                       form: CheckedForm) -> Response:
    hub: Hub = request.app.state.hub

    def revoke() -> Response:
        try:
            name = hub.revoke_token(token_id, actor=member_of(user),
                                    client=client_address(request) or "ui")
        except CordonError as exc:
            return _page(request, 404, error=str(exc))
        return redirect("/ui/members", f"Token {token_id} of {name} is revoked.")

    return await run_in_threadpool(revoke)


@router.post("/users", response_class=HTMLResponse)
async def add_user(request: Request, user: Admin, form: CheckedForm) -> Response:
    hub: Hub = request.app.state.hub
    ui = request.app.state.ui
    name = str(form.get("name") or "").strip()
    member_name = str(form.get("member") or "")
    password = str(form.get("password") or "")

    def add() -> Response:
        with hub.store.read() as conn:
            member = hub_repo.find_member(conn, member_name)
        if member is None:
            return _page(request, 422, error=f"no member named {member_name!r}")
        try:
            ui.users.add(name, password, member_id=member.id)
        except CordonError as exc:
            return _page(request, 422, error=str(exc))
        hub.audit(member_of(user), "ui-user.add", f"ui-user:{name}", client_address(request),
                  {"member": member.name})
        return redirect("/ui/members", f"User {name} can log in now, as {member.name}.")

    return await run_in_threadpool(add)
