"""The node's webhooks and their delivery log; admins add and delete them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from cordon.node.schemas import WebhookIn
from cordon.node.service import Node, NodeError
from cordon.web.auth import CheckedForm, WebUser, require_role
from cordon.web.mount import NavItem
from cordon.web.templates import redirect, render

# Webhook addresses are the platform's internal endpoints: admins only.
Admin = Annotated[WebUser, Depends(require_role("admin"))]
router = APIRouter(prefix="/ui", include_in_schema=False)
NAV = (NavItem("/ui/webhooks", "Webhooks", roles=("admin",), order=45),)


def _events() -> tuple[str, ...]:
    """The events `WebhookIn` accepts (they grow as the node learns to send more)."""
    annotation = WebhookIn.model_fields["events"].annotation
    args = getattr(annotation, "__args__", ())
    literal = getattr(args[0], "__args__", ()) if args else ()
    return tuple(str(e) for e in literal) or ("match", "action")


async def _page(request: Request, status_code: int = 200, error: str | None = None,
                form: dict[str, Any] | None = None) -> HTMLResponse:
    node: Node = request.app.state.node
    hooks = await run_in_threadpool(node.webhooks)
    return render(request, "node/webhooks.html", status_code=status_code, webhooks=hooks,
                  events=_events(), error=error, form=form or {})


@router.get("/webhooks", response_class=HTMLResponse)
async def webhooks(request: Request, user: Admin) -> HTMLResponse:
    return await _page(request)


@router.post("/webhooks", response_model=None)
async def add_webhook(request: Request, user: Admin, form: CheckedForm) -> Response:
    node: Node = request.app.state.node
    url = str(form.get("url") or "").strip()
    data = {"url": url, "secret": str(form.get("secret") or ""),
            "events": [e for e in form.getlist("events") if isinstance(e, str)]}
    try:
        hook = WebhookIn.model_validate(data)
        if not hook.url.startswith(("http://", "https://")):
            raise NodeError("a webhook URL starts with http:// or https://", 422)
    except (ValidationError, NodeError) as exc:
        message = str(exc) if isinstance(exc, NodeError) else (
            f"{'.'.join(str(p) for p in exc.errors()[0]['loc'])}: {exc.errors()[0]['msg']}")
        return await _page(request, 422, message, {"url": url})
    added = await run_in_threadpool(node.add_webhook, hook.url, hook.secret, hook.events)
    return redirect(f"/ui/webhooks/{added['id']}", "Webhook added.")


@router.get("/webhooks/{hook_id}", response_class=HTMLResponse)
async def webhook(hook_id: int, request: Request, user: Admin) -> HTMLResponse:
    node: Node = request.app.state.node

    def load() -> dict[str, Any]:
        hook = next((h for h in node.webhooks() if h["id"] == hook_id), None)
        if hook is None:
            raise NodeError(f"no webhook with id {hook_id}", 404)
        return {"hook": hook, "deliveries": node.deliveries(hook_id, 200)}

    return render(request, "node/webhook.html", **await run_in_threadpool(load))


@router.post("/webhooks/{hook_id}/delete")
async def delete_webhook(hook_id: int, request: Request, user: Admin,
                         form: CheckedForm) -> Response:
    node: Node = request.app.state.node
    await run_in_threadpool(node.delete_webhook, hook_id)
    return redirect("/ui/webhooks", f"Webhook {hook_id} deleted.")
