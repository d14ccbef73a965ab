"""Moderation API: reports (public), the review queue, previews and decisions (reviewers),
statements of reasons and appeals (the affected user, with their notice code), removal
orders, preservation and purges (admins), live eligibility (the platform), and the yearly
transparency report (public)."""

from __future__ import annotations

from datetime import datetime
from typing import IO, Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, ValidationError

from cordon.node import roles
from cordon.node.deps import Unauthorized
from cordon.node.moderation import (
    appeals,
    decisions,
    orders,
    preservation,
    previews,
    queue,
    reports,
    statements,
    strikes,
    transparency,
)
from cordon.node.moderation.access import Principal, authenticate
from cordon.node.moderation.context import Context, Forbidden
from cordon.node.moderation.forms import parse_report_form
from cordon.node.moderation.limits import PublicLimits, client_address
from cordon.node.service import NodeError
from cordon.node.upload import read_limited

router = APIRouter(tags=["moderation"])
_bearer = HTTPBearer(auto_error=False, description="A node token: `Authorization: Bearer T`.")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def context(request: Request) -> Context:
    return request.app.state.moderation.ctx  # type: ignore[no-any-return]


ContextDep = Annotated[Context, Depends(context)]


async def _principal(request: Request, credentials: HTTPAuthorizationCredentials | None
                     ) -> Principal | None:
    if credentials is None or not credentials.credentials:
        return None
    if credentials.scheme.lower() != "bearer":
        raise Unauthorized("send Authorization: Bearer TOKEN")
    node = request.app.state.node
    # From memory when the token cache is fresh; a reload reads the store off the event loop.
    if node.tokens.fresh():
        found = authenticate(node, credentials.credentials)
    else:
        found = await run_in_threadpool(authenticate, node, credentials.credentials)
    if found is None:
        raise Unauthorized("invalid or revoked token")
    return found


def limits(request: Request) -> PublicLimits:
    return request.app.state.moderation.limits  # type: ignore[no-any-return]


async def public_caller(request: Request, credentials: HTTPAuthorizationCredentials | None
                        ) -> Principal | None:
    """Who calls a public route: a token holder, or nobody, on the address's budget (checked
    before the body is read, so that a refused request costs next to nothing)."""
    address = client_address(request)
    if credentials is None or not credentials.credentials:
        limits(request).report(address)
        return None
    try:
        return await _principal(request, credentials)
    except Unauthorized:
        limits(request).refused_token(address)
        raise


def require(allowed: frozenset[str]) -> Any:
    async def dependency(request: Request, credentials: Credentials) -> Principal:
        principal = await _principal(request, credentials)
        if principal is None:
            raise Unauthorized("missing bearer token: send Authorization: Bearer TOKEN")
        if principal.role not in allowed:
            raise Forbidden(f"this needs the role {' or '.join(sorted(allowed))}; the token "
                            f"has {principal.role}")
        return principal
    return Depends(dependency)


Reviewer = Annotated[Principal, require(roles.REVIEW)]
Platform = Annotated[Principal, require(roles.PLATFORM)]
Admin = Annotated[Principal, require(roles.MANAGE)]
OrderDesk = Annotated[Principal, require(roles.PLATFORM)]


class Invalid(NodeError):
    status = 422

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(str(errors[0]["msg"]) if errors else "invalid request")
        self.errors = errors


def _validated(model: type[BaseModel], data: Any) -> Any:
    try:
        if isinstance(data, bytes | str):
            return model.model_validate_json(data)
        return model.model_validate(data)
    except ValidationError as exc:
        raise Invalid([{"loc": ["body", *e.get("loc", ())], "msg": e.get("msg", ""),
                        "type": e.get("type", "")} for e in exc.errors()[:100]]) from None


_TRUE = {"1", "true", "on", "yes"}


def report_from_form(fields: list[tuple[str, str]]) -> reports.ReportIn:
    data: dict[str, Any] = {"urls": []}
    for name, value in fields:
        if name == "urls" or name == "url":
            data["urls"].extend(u for u in value.split() if u)
        elif name == "good_faith":
            data["good_faith"] = value.strip().lower() in _TRUE
        elif name in ("reporter_name", "reporter_email", "account"):
            data[name] = value.strip() or None
        elif name in ("csrf_token", "csrf"):
            continue  # the form page's own field
        else:
            data[name] = value
    data.setdefault("good_faith", False)
    return _validated(reports.ReportIn, data)  # type: ignore[no-any-return]


async def receive_report(request: Request, ctx: Context, principal: Principal | None
                         ) -> dict[str, Any]:
    # The boundary is case-sensitive (browsers send mixed case): only compare lowercased.
    raw_type = request.headers.get("content-type", "")
    content_type = raw_type.lower()
    upload: IO[bytes] | None = None
    name = None
    limit = min(ctx.settings.max_report_upload_bytes, ctx.node.settings.max_upload_bytes)
    if content_type.startswith("multipart/form-data"):
        fields, upload, name = await parse_report_form(raw_type, request.stream(), limit)
        try:
            body = report_from_form(fields)
        except NodeError:
            if upload is not None:
                upload.close()
            raise
    elif content_type.startswith("application/x-www-form-urlencoded"):
        from urllib.parse import parse_qsl

        raw = await read_limited(request.stream(), ctx.node.settings.max_json_bytes)
        body = report_from_form(parse_qsl(raw.decode("utf-8", "replace"),
                                          max_num_fields=100))
    elif content_type.startswith("application/json"):
        raw = await read_limited(request.stream(), ctx.node.settings.max_json_bytes)
        body = _validated(reports.ReportIn, raw)
    else:
        raise NodeError("send JSON, or a multipart form with a `file` field", 415)
    flagger = principal.name if principal is not None and principal.role == roles.FLAGGER \
        else None
    try:
        return await run_in_threadpool(reports.file_report, ctx, body, upload, name, flagger)
    finally:
        if upload is not None:
            upload.close()


@router.post("/v1/reports", status_code=201)
async def file_report(request: Request, ctx: ContextDep, credentials: Credentials
                      ) -> dict[str, Any]:
    """Report content (no token needed): JSON `{urls, reason, explanation, reporter_name?,
    reporter_email?, good_faith}` or a multipart form with the same fields and a `file`. A
    trusted flagger's token raises the report's priority. Answers with a tracking id.
    Without a token, each client address has a budget of reports (429 with Retry-After)."""
    principal = await public_caller(request, credentials)
    return await receive_report(request, ctx, principal)


@router.get("/v1/reports/{tracking_id}")
async def report_status(tracking_id: str, ctx: ContextDep) -> dict[str, Any]:
    """Where a report stands (by its tracking id)."""
    return await run_in_threadpool(reports.report_status, ctx, tracking_id[:40])


# --- the review queue ------------------------------------------------------------------------
@router.get("/v1/queue")
async def review_queue(ctx: ContextDep, who: Reviewer,
                       limit: Annotated[int, Query(ge=1, le=1000)] = 50,
                       kind: Annotated[str | None, Query(pattern="^(report|match|order|appeal)$")]
                       = None, tz: Annotated[str | None, Query(max_length=64)] = None
                       ) -> dict[str, Any]:
    """Open cases: removal orders, imminent threats, then by priority and deadline. `tz`
    adds each deadline in that time zone."""
    items = await run_in_threadpool(lambda: queue.queue(ctx, who.name, limit=limit, kind=kind,
                                                        tz_name=tz))
    return {"items": items}


@router.get("/v1/cases/{case_id}")
async def get_case(case_id: int, ctx: ContextDep, _who: Reviewer,
                   tz: Annotated[str | None, Query(max_length=64)] = None) -> dict[str, Any]:
    detail = await run_in_threadpool(queue.case_detail, ctx, case_id, tz)
    detail["statements"] = await run_in_threadpool(statements.for_case, ctx, case_id)
    return detail


@router.get("/v1/cases/{case_id}/preview", response_class=Response,
            responses={200: {"content": {"image/jpeg": {}}}})
async def case_preview(case_id: int, ctx: ContextDep, _who: Reviewer,
                       reveal: bool = False) -> Response:
    """The content, greyscale and blurred unless `reveal=true`."""
    data = await run_in_threadpool(previews.preview, ctx, case_id, reveal)
    return Response(data, media_type="image/jpeg",
                    headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})


@router.post("/v1/cases/{case_id}/decision", status_code=201)
async def decide(case_id: int, body: decisions.DecisionIn, ctx: ContextDep,
                 who: Reviewer) -> dict[str, Any]:
    """Decide a case. A restriction answers with the statement of reasons and the notice code
    to give the affected user (shown once)."""
    return await run_in_threadpool(decisions.decide, ctx, case_id, who.name, body)


# --- statements and appeals ------------------------------------------------------------------
@router.get("/v1/statements")
async def list_statements(ctx: ContextDep, _who: Reviewer,
                          limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                          before: int | None = None) -> dict[str, Any]:
    return {"statements": await run_in_threadpool(statements.listing, ctx, limit, before)}


@router.get("/v1/statements/export/dsa")
async def export_statements(ctx: ContextDep, _who: Admin, platform: Annotated[
        str, Query(min_length=1, max_length=100)] = "cordon",
        since: datetime | None = None, until: datetime | None = None,
        territory: Annotated[str, Query(max_length=200)] = "") -> dict[str, Any]:
    """Statements in the EU DSA Transparency Database's submission fields; `territory`:
    comma-separated country codes for `territorial_scope`."""
    codes = [c for c in territory.split(",") if c.strip()]
    return {"statements": await run_in_threadpool(statements.dsa_export, ctx, platform,
                                                  since, until, codes)}


@router.get("/v1/statements/{statement_id}")
async def get_statement(statement_id: int, ctx: ContextDep, _who: Reviewer) -> dict[str, Any]:
    return await run_in_threadpool(statements.get, ctx, statement_id)


@router.get("/v1/notices/{code}")
async def read_notice(code: str, request: Request, ctx: ContextDep) -> dict[str, Any]:
    """The affected user's view: the statement of reasons and their appeals. Reading a
    notice and appealing share a budget per client address and per code (429)."""
    limits(request).appeal(client_address(request), code[:100])
    return await run_in_threadpool(appeals.notice, ctx, code[:100])


@router.post("/v1/notices/{code}/appeal", status_code=201)
async def appeal(code: str, request: Request, body: appeals.AppealIn, ctx: ContextDep
                 ) -> dict[str, Any]:
    """Appeal the decision (within the window given in the statement)."""
    limits(request).appeal(client_address(request), code[:100])
    return await run_in_threadpool(appeals.file_appeal, ctx, code[:100], body)


@router.get("/v1/appeals")
async def list_appeals(ctx: ContextDep, _who: Reviewer,
                       status: Annotated[str | None, Query(pattern="^(open|upheld|reversed)$")]
                       = None) -> dict[str, Any]:
    return {"appeals": await run_in_threadpool(appeals.listing, ctx, status)}


# --- removal orders --------------------------------------------------------------------------
@router.post("/v1/orders", status_code=201)
async def register_order(body: orders.OrderIn, ctx: ContextDep, who: OrderDesk
                         ) -> dict[str, Any]:
    """Register a removal order: it goes to the top of the queue with a one-hour clock."""
    return await run_in_threadpool(orders.register, ctx, body, who.name)


@router.get("/v1/orders")
async def list_orders(ctx: ContextDep, _who: Reviewer) -> dict[str, Any]:
    return {"orders": await run_in_threadpool(orders.listing, ctx)}


@router.get("/v1/orders/{order_id}")
async def get_order(order_id: int, ctx: ContextDep, _who: Reviewer) -> dict[str, Any]:
    return await run_in_threadpool(orders.get, ctx, order_id)


# --- preservation ----------------------------------------------------------------------------
class ExtendIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    until: datetime


@router.get("/v1/preservations")
async def list_preservations(ctx: ContextDep, _who: Admin) -> dict[str, Any]:
    return {"preservations": await run_in_threadpool(preservation.listing, ctx)}


@router.get("/v1/preservations/{preservation_id}")
async def get_preservation(preservation_id: int, ctx: ContextDep, _who: Admin
                           ) -> dict[str, Any]:
    """The preserved record, decrypted."""
    return await run_in_threadpool(preservation.record, ctx, preservation_id)


@router.post("/v1/preservations/{preservation_id}/extend")
async def extend_preservation(preservation_id: int, body: ExtendIn, ctx: ContextDep,
                              _who: Admin) -> dict[str, Any]:
    if body.until.tzinfo is None:
        raise NodeError("give `until` with a time zone", 422)
    return await run_in_threadpool(preservation.extend, ctx, preservation_id, body.until)


@router.post("/v1/purge")
async def purge(ctx: ContextDep, _who: Admin) -> dict[str, Any]:
    """Purge now what has been kept long enough (the node also does so every hour)."""
    return await run_in_threadpool(preservation.purge, ctx)


@router.get("/v1/purges")
async def list_purges(ctx: ContextDep, _who: Admin) -> dict[str, Any]:
    return {"purges": await run_in_threadpool(preservation.purges, ctx)}


# --- accounts --------------------------------------------------------------------------------
@router.get("/v1/accounts/{account}/live-eligibility")
async def live_eligibility(account: str, ctx: ContextDep, _who: Platform) -> dict[str, Any]:
    """May this account start a live stream now? (Call before a stream starts.)"""
    return await run_in_threadpool(strikes.live_eligibility, ctx, account[:200])


@router.get("/v1/accounts/{account}/strikes")
async def account_strikes(account: str, ctx: ContextDep, _who: Platform) -> dict[str, Any]:
    return {"account": account, "strikes": await run_in_threadpool(strikes.ledger, ctx,
                                                                   account[:200])}


# --- transparency ----------------------------------------------------------------------------
@router.get("/v1/transparency/{year}")
async def transparency_report(year: int, ctx: ContextDep) -> dict[str, Any]:
    """The yearly transparency report (aggregates only; public)."""
    return await run_in_threadpool(transparency.report, ctx, year)
