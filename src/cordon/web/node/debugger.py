"""The match debugger: upload a file and see what the node sees: its content type and
signals, every match with its distance and aligned video segments, and the rules that fire.
It runs the node's own hashing and matching code and records nothing in the match log."""

from __future__ import annotations

from typing import IO, Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from starlette.datastructures import FormData

from cordon.node import roles
from cordon.node.moderation.forms import parse_report_form
from cordon.node.routes.match import _hash
from cordon.node.rules import evaluate
from cordon.node.service import Node, NodeError
from cordon.signals import get_signal_type
from cordon.web import csrf
from cordon.web.auth import WebUser, require_role
from cordon.web.mount import NavItem
from cordon.web.templates import render

# Who matches content: the platform's people and systems, and reviewers checking a case.
MATCHERS = tuple(sorted(roles.PLATFORM | roles.REVIEW))
Matcher = Annotated[WebUser, Depends(require_role(*MATCHERS))]
router = APIRouter(prefix="/ui", include_in_schema=False)
NAV = (NavItem("/ui/debugger", "Match debugger", roles=MATCHERS, order=20),)
# File names are shown back; longer ones are cut.
NAME_MAX = 200


@router.get("/debugger", response_class=HTMLResponse)
async def debugger(request: Request, user: Matcher) -> HTMLResponse:
    return render(request, "node/debugger.html", result=None, error=None)


def explain(node: Node, spooled: IO[bytes]) -> dict[str, Any]:
    """Hash as `POST /v1/match` does, match, and say which rules apply to each match."""
    content_type, signals = _hash(node, spooled, True)
    matches = node.find(signals)
    rules = node.rules()
    per_match, actions = evaluate(rules, matches)
    names = {rule.id: rule for rule in rules}
    for match, rule_ids in zip(matches, per_match, strict=True):
        match["rules"] = [{"id": i, "name": names[i].name, "action": names[i].action}
                          for i in rule_ids]
        run = (match.get("detail") or {}).get("run")
        match["aligned"] = [run] if run else [s for s in match["segments"]
                                              if isinstance(s, dict)]
    shown = {name: get_signal_type(name).summary(value) for name, value in signals.items()}
    return {"content_type": content_type, "signals": shown, "matches": matches,
            "actions": actions, "rules": len(rules)}


@router.post("/debugger", response_class=HTMLResponse)
async def run_debugger(request: Request, user: Matcher) -> HTMLResponse:
    node: Node = request.app.state.node
    # Not lowercased: the boundary is case-sensitive.
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/form-data"):
        raise NodeError("send the form as multipart/form-data with a file", 415)
    fields, upload, name = await parse_report_form(content_type, request.stream(),
                                                   node.settings.max_upload_bytes)
    try:
        csrf.check(user.csrf_token, FormData(fields))
        file_name = (name or "upload")[:NAME_MAX]
        if upload is None:
            return render(request, "node/debugger.html", status_code=422, result=None,
                          error="choose a file to match")
        try:
            result = await run_in_threadpool(explain, node, upload)
        except NodeError as exc:
            # A file the node cannot decode: the reason, as the API gives it.
            return render(request, "node/debugger.html", status_code=exc.status,
                          result=None, error=f"{file_name}: {exc}")
        return render(request, "node/debugger.html", result={**result, "name": file_name},
                      error=None)
    finally:
        if upload is not None:
            upload.close()
