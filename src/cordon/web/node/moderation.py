"""Moderation pages of the node: the public report form and appeal page (no login), the
transparency page (public), and for reviewers the queue, a case with its evidence and
preview, the decision form and statements of reasons. Every page calls the same moderation
code as the API."""

from __future__ import annotations

import hmac
import secrets
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from cordon.hub.labels import BEHAVIOURS
from cordon.node import roles
from cordon.node.moderation import (
    appeals,
    decisions,
    previews,
    queue,
    reports,
    statements,
    transparency,
)
from cordon.node.moderation.context import Context
from cordon.node.moderation.forms import parse_report_form
from cordon.node.moderation.limits import PublicLimits, RateLimited, client_address
from cordon.node.routes.moderation import report_from_form
from cordon.node.service import NodeError
from cordon.web.auth import CheckedForm, OptionalUser, WebUser, require_role
from cordon.web.mount import NavItem
from cordon.web.templates import SECURITY_HEADERS, redirect, render

router = APIRouter(prefix="/ui", include_in_schema=False)
NAV = (NavItem("/ui/queue", "Review queue", roles=tuple(sorted(roles.REVIEW)), order=50),
       NavItem("/ui/report", "Report content", order=60),
       NavItem("/ui/transparency", "Transparency", order=70))
Reviewer = Annotated[WebUser, Depends(require_role(*sorted(roles.REVIEW)))]
# Public forms come before any session: a double-submit cookie stands in for the session's
# CSRF token (as on the login form).
PUBLIC_CSRF_COOKIE = "cordon_public_csrf"
FORM_FIELD_MAX = 5000


def _ctx(request: Request) -> Context:
    return request.app.state.moderation.ctx  # type: ignore[no-any-return]


def _public_page(request: Request, template: str, status_code: int = 200,
                 **context: Any) -> Response:
    token = request.cookies.get(PUBLIC_CSRF_COOKIE) or secrets.token_urlsafe(32)
    response = render(request, template, status_code=status_code, public_csrf=token, **context)
    response.set_cookie(PUBLIC_CSRF_COOKIE, token, path="/ui", httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")
    return response


def _limits(request: Request) -> PublicLimits:
    return request.app.state.moderation.limits  # type: ignore[no-any-return]


def _refused(request: Request, template: str, exc: RateLimited, **context: Any) -> Response:
    response = _public_page(request, template, exc.status, **context)
    response.headers.update(exc.headers)
    return response


def _public_csrf_ok(request: Request, sent: str | None) -> bool:
    expected = request.cookies.get(PUBLIC_CSRF_COOKIE)
    return bool(expected and sent and hmac.compare_digest(expected.encode(), sent.encode()))


def _error_text(exc: NodeError) -> str:
    errors = getattr(exc, "errors", None)
    if errors:
        first = errors[0]
        where = ".".join(str(p) for p in first.get("loc", ())[1:])
        return f"{where}: {first.get('msg')}" if where else str(first.get("msg"))
    return str(exc)


# --- the public report form ------------------------------------------------------------------
def _reasons() -> list[tuple[str, str]]:
    return [(f"behaviour:{key}", text) for key, text in BEHAVIOURS.items()]


@router.get("/report", response_class=HTMLResponse)
async def report_page(request: Request, _user: OptionalUser) -> Response:
    return _public_page(request, "moderation/report_form.html", reasons=_reasons(), error=None,
                        values={})


@router.post("/report")
async def report_submit(request: Request, user: OptionalUser) -> Response:
    ctx = _ctx(request)
    # The boundary is case-sensitive (browsers send mixed case): only compare lowercased.
    raw_type = request.headers.get("content-type", "")
    content_type = raw_type.lower()
    if not content_type.startswith("multipart/form-data"):
        return _public_page(request, "moderation/report_form.html", 415, reasons=_reasons(),
                            error="send the form as multipart/form-data", values={})
    if user is None:  # staff are known; the public has a budget per address
        try:
            _limits(request).report(client_address(request))
        except RateLimited as exc:
            return _refused(request, "moderation/report_form.html", exc, reasons=_reasons(),
                            error=str(exc), values={})
    limit = min(ctx.settings.max_report_upload_bytes, ctx.node.settings.max_upload_bytes)
    upload = None
    values: dict[str, str] = {}
    try:
        fields, upload, name = await parse_report_form(raw_type, request.stream(), limit)
        values = {k: v[:FORM_FIELD_MAX] for k, v in fields if k != "csrf_token"}
        if not _public_csrf_ok(request, dict(fields).get("csrf_token")):
            return _public_page(request, "moderation/report_form.html", 403, reasons=_reasons(),
                                error="the form's security token is missing or out of date: "
                                      "reload the page and try again", values=values)
        body = report_from_form([(k, v) for k, v in fields if k != "csrf_token"])
        flagger = user.name if user is not None and user.role == roles.FLAGGER else None
        ack = await run_in_threadpool(reports.file_report, ctx, body, upload, name, flagger)
    except NodeError as exc:
        return _public_page(request, "moderation/report_form.html", exc.status,
                            reasons=_reasons(), error=_error_text(exc), values=values)
    finally:
        if upload is not None:
            upload.close()
    return render(request, "moderation/report_done.html", status_code=201, ack=ack)


# --- the affected user's notice and appeal ---------------------------------------------------
@router.get("/appeal", response_class=HTMLResponse)
async def appeal_page(request: Request, _user: OptionalUser) -> Response:
    return _public_page(request, "moderation/appeal.html", notice=None, code="", error=None)


@router.post("/appeal")
async def appeal_submit(request: Request, _user: OptionalUser) -> Response:
    """Two steps on one form: the notice code shows the statement; with an explanation it
    files the appeal."""
    form = await request.form(max_files=0, max_fields=10, max_part_size=FORM_FIELD_MAX * 4)
    code = str(form.get("code") or "").strip()[:100]
    explanation = str(form.get("explanation") or "").strip()
    if not _public_csrf_ok(request, str(form.get("csrf_token") or "")):
        return _public_page(request, "moderation/appeal.html", 403, notice=None, code="",
                            error="the form's security token is missing or out of date: "
                                  "reload the page and try again")
    ctx = _ctx(request)
    try:
        _limits(request).appeal(client_address(request), code)
    except RateLimited as exc:
        return _refused(request, "moderation/appeal.html", exc, notice=None, code="",
                        error=str(exc))
    try:
        notice = await run_in_threadpool(appeals.notice, ctx, code)
    except NodeError as exc:
        return _public_page(request, "moderation/appeal.html", exc.status, notice=None,
                            code="", error=_error_text(exc))
    if form.get("step") != "appeal":
        return _public_page(request, "moderation/appeal.html", notice=notice, code=code,
                            error=None)
    try:
        body = appeals.AppealIn(explanation=explanation)
        await run_in_threadpool(appeals.file_appeal, ctx, code, body)
    except ValidationError:
        return _public_page(request, "moderation/appeal.html", 422, notice=notice, code=code,
                            error="explain in 1 to 5000 characters why the decision is wrong")
    except NodeError as exc:
        return _public_page(request, "moderation/appeal.html", exc.status, notice=notice,
                            code=code, error=_error_text(exc))
    notice = await run_in_threadpool(appeals.notice, ctx, code)
    return _public_page(request, "moderation/appeal.html", 201, notice=notice, code=code,
                        error=None, filed=True)


# --- transparency ----------------------------------------------------------------------------
@router.get("/transparency", response_class=HTMLResponse)
async def transparency_page(request: Request, _user: OptionalUser,
                            year: int | None = None) -> Response:
    year = year or datetime.now(UTC).year
    data = await run_in_threadpool(transparency.report, _ctx(request), year)
    return render(request, "moderation/transparency.html", report=data)


# --- reviewers -------------------------------------------------------------------------------
@router.get("/queue", response_class=HTMLResponse)
async def queue_page(request: Request, user: Reviewer, kind: str | None = None,
                     tz: str | None = None) -> Response:
    kind = kind if kind in queue.KINDS else None
    items = await run_in_threadpool(lambda: queue.queue(
        _ctx(request), str(user.subject or user.name), limit=200, kind=kind,
        tz_name=tz or None))
    return render(request, "moderation/queue.html", items=items, kind=kind or "",
                  tz=tz or "", kinds=queue.KINDS)


@router.get("/cases/{case_id}", response_class=HTMLResponse)
async def case_page(request: Request, case_id: int, user: Reviewer,
                    reveal: bool = False) -> Response:
    ctx = _ctx(request)
    case = await run_in_threadpool(queue.case_detail, ctx, case_id)
    case["statements"] = await run_in_threadpool(statements.for_case, ctx, case_id)
    own_appeal = case["excluded_reviewer"] == str(user.subject or user.name)
    return render(request, "moderation/case.html", case=case, reveal=reveal,
                  own_appeal=own_appeal, reasons=_reasons(),
                  actions=decisions.APPEAL_ACTIONS if case["kind"] == "appeal"
                  else decisions.CASE_ACTIONS)


@router.get("/cases/{case_id}/preview")
async def case_preview(request: Request, case_id: int, _user: Reviewer,
                       reveal: bool = False) -> Response:
    data = await run_in_threadpool(previews.preview, _ctx(request), case_id, reveal)
    return Response(data, media_type="image/jpeg", headers=SECURITY_HEADERS)


@router.post("/cases/{case_id}/decision")
async def case_decide(request: Request, case_id: int, user: Reviewer,
                      form: CheckedForm) -> Response:
    ctx = _ctx(request)
    data: dict[str, Any] = {
        "action": form.get("action"),
        "labels": [str(v) for v in form.getlist("labels") if str(v).strip()],
        "note": str(form.get("note") or "").strip() or None,
        "account": str(form.get("account") or "").strip() or None,
        "ground": form.get("ground") or "terms",
        "hub_feedback": form.get("hub_feedback") == "on",
    }
    try:
        body = decisions.DecisionIn.model_validate(data)
        result = await run_in_threadpool(decisions.decide, ctx, case_id,
                                         str(user.subject or user.name), body)
    except ValidationError as exc:
        first = exc.errors()[0]
        return redirect(f"/ui/cases/{case_id}",
                        f"Not decided: {'.'.join(map(str, first['loc']))}: {first['msg']}")
    except NodeError as exc:
        if exc.status == 403:
            raise
        return redirect(f"/ui/cases/{case_id}", f"Not decided: {exc}")
    return render(request, "moderation/decided.html", result=result, case_id=case_id)


@router.get("/statements/{statement_id}", response_class=HTMLResponse)
async def statement_page(request: Request, statement_id: int, _user: Reviewer) -> Response:
    statement = await run_in_threadpool(statements.get, _ctx(request), statement_id)
    return render(request, "moderation/statement.html", statement=statement)
