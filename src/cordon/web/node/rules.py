"""The node's rules: list them; admins create and delete them. The same checks as the API
(`RuleIn`), the same service calls."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from starlette.datastructures import FormData

from cordon.node.rules import ACTIONS
from cordon.node.schemas import RuleIn
from cordon.node.service import Node, NodeError
from cordon.web.auth import CheckedForm, CurrentUser, WebUser, require_role
from cordon.web.mount import NavItem
from cordon.web.templates import redirect, render

Admin = Annotated[WebUser, Depends(require_role("admin"))]
router = APIRouter(prefix="/ui", include_in_schema=False)
NAV = (NavItem("/ui/rules", "Rules", order=40),)


def _text(form: FormData, name: str) -> str | None:
    value = form.get(name)
    return value.strip() or None if isinstance(value, str) else None


def rule_from_form(form: FormData) -> RuleIn:
    """The form's rule, checked as the API checks `POST /v1/rules` (NodeError 422 else)."""
    incident: bool | str | None = {"any": True, "none": False}.get(
        _text(form, "incident") or "", _text(form, "incident_id"))
    disputed = {"yes": True, "no": False}.get(_text(form, "disputed") or "")
    labels = [label for label in (_text(form, "labels") or "").replace(",", " ").split()]
    distance = _text(form, "max_distance")
    data: dict[str, Any] = {"name": _text(form, "name") or "", "action": _text(form, "action"),
                            "bank": _text(form, "bank"), "labels": labels,
                            "signal_type": _text(form, "signal_type"),
                            "max_distance": distance, "incident": incident,
                            "disputed": disputed}
    try:
        return RuleIn.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "form"
        raise NodeError(f"{where}: {first.get('msg')}", 422) from None


async def _page(request: Request, status_code: int = 200, error: str | None = None,
                form: dict[str, Any] | None = None) -> HTMLResponse:
    node: Node = request.app.state.node
    rules = await run_in_threadpool(node.rules)
    return render(request, "node/rules.html", status_code=status_code, actions=ACTIONS,
                  rules=[node.rule_json(r) for r in rules], error=error, form=form or {})


@router.get("/rules", response_class=HTMLResponse)
async def rules(request: Request, user: CurrentUser) -> HTMLResponse:
    return await _page(request)


@router.post("/rules", response_model=None)
async def add_rule(request: Request, user: Admin, form: CheckedForm) -> Response:
    node: Node = request.app.state.node
    try:
        rule = rule_from_form(form)
    except NodeError as exc:
        kept = {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}
        return await _page(request, 422, str(exc), kept)
    conditions = rule.model_dump(exclude={"name", "action"})
    await run_in_threadpool(node.add_rule, rule.name, rule.action, conditions)
    return redirect("/ui/rules", "Rule added.")


@router.post("/rules/{rule_id}/delete")
async def delete_rule(rule_id: int, request: Request, user: Admin,
                      form: CheckedForm) -> Response:
    node: Node = request.app.state.node
    await run_in_threadpool(node.delete_rule, rule_id)
    return redirect("/ui/rules", f"Rule {rule_id} deleted.")
