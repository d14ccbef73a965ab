"""User reports (notices): validated, hashed and matched at once through the node's own
hashing and matcher, the content kept encrypted for review, duplicates of content already in
the queue merged into its case; acknowledged with a tracking id."""

from __future__ import annotations

import hashlib
import re
import secrets
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import Connection, insert, select, update

from cordon.errors import CordonError
from cordon.hashing import MatchingSelection, hash_file
from cordon.hub.labels import check_label
from cordon.node.fetch import check_url, fetch
from cordon.node.moderation import queue
from cordon.node.moderation.context import Context, NotFound, iso
from cordon.node.service import NodeError
from cordon.store.moderation_models import mod_cases, mod_decisions, mod_reports

_EMAIL = re.compile(r"[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+")


class ReportIn(BaseModel):
    """A notice (Christchurch Call; DSA art. 16): the content, why, and who (optional)."""

    model_config = ConfigDict(extra="forbid")

    urls: list[str] = Field(default_factory=list, max_length=20)
    reason: str = Field(min_length=1, max_length=200,
                        description="A label of the taxonomy, e.g. behaviour:glorification")
    explanation: str = Field(min_length=1, max_length=5000)
    reporter_name: str | None = Field(default=None, max_length=200)
    reporter_email: str | None = Field(default=None, max_length=320)
    good_faith: bool = Field(description="The reporter confirms the notice is accurate and "
                                         "complete to the best of their knowledge.")
    # The platform's account of the content, when the platform files the report.
    account: str | None = Field(default=None, max_length=200)

    @field_validator("reason")
    @classmethod
    def _reason(cls, value: str) -> str:
        try:
            return check_label(value)
        except CordonError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("reporter_email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is not None and value.strip() and not _EMAIL.fullmatch(value.strip()):
            raise ValueError("not an email address")
        return value.strip() or None if value is not None else None

    @field_validator("urls")
    @classmethod
    def _urls(cls, value: list[str]) -> list[str]:
        out = []
        for url in value:
            url = url.strip()
            if not url.lower().startswith(("http://", "https://")) or len(url) > 2000:
                raise ValueError("each URL starts with http:// or https:// (at most 2000 "
                                 "characters)")
            out.append(url)
        return list(dict.fromkeys(out))


def _hash(ctx: Context, path: Path) -> tuple[str | None, dict[str, Any]]:
    names = frozenset(ctx.node.matcher.sizes())
    result = hash_file(path, MatchingSelection(names))
    if result.error is not None:
        raise NodeError(result.error, 422)
    return (result.content_type.value if result.content_type else None), result.signals


def _sha256(spooled: IO[bytes]) -> tuple[str, bytes]:
    spooled.seek(0)
    data = spooled.read()
    return hashlib.sha256(data).hexdigest(), data


def _fetch_first(ctx: Context, urls: Sequence[str]) -> tuple[IO[bytes] | None, list[str]]:
    """The content at the first URL that can be fetched, and why the others could not."""
    errors: list[str] = []
    node = ctx.node.settings
    for url in urls[:ctx.settings.max_report_urls]:
        try:
            # Checked before the HTTP client is made (an SSL context costs tens of ms): most
            # refused URLs never need one.
            check_url(url, node.fetch_allow_networks)
        except NodeError as exc:
            errors.append(f"{url[:200]}: {exc}")
            continue
        out = tempfile.NamedTemporaryFile(prefix="cordon-report-")  # noqa: SIM115
        try:
            fetch(url, out, max_bytes=ctx.settings.max_report_upload_bytes,
                  timeout=node.fetch_timeout, max_redirects=node.fetch_max_redirects,
                  allowed=node.fetch_allow_networks)
            out.flush()
            return out, errors
        except NodeError as exc:
            out.close()
            errors.append(f"{url[:200]}: {exc}")
    return None, errors


@dataclass
class Taken:
    """What the node learnt of reported content: its key, type, signals, matches, the
    encrypted copy it keeps, and why something could not be fetched or hashed."""

    content_key: str
    content_type: str | None = None
    signals: dict[str, Any] = field(default_factory=dict)
    matches: list[dict[str, Any]] = field(default_factory=list)
    evidence: str | None = None
    errors: list[str] = field(default_factory=list)
    # The content of a duplicate report, not kept because its open case keeps it; kept
    # after all if that case closed before the report reached it.
    unkept: bytes | None = field(default=None, repr=False)


def take_content(ctx: Context, upload: IO[bytes] | None, upload_name: str | None,
                 urls: Sequence[str], dedupe: bool = True) -> Taken:
    """Hash and match an upload, or the first URL that can be fetched, through the node's
    own hashing and matcher (nothing recorded in the match log), and keep it encrypted
    (`dedupe`: not when an open case of the same content already keeps it)."""
    errors: list[str] = []
    content = upload
    if content is None:
        content, errors = _fetch_first(ctx, urls)
    source = upload_name or (urls[0] if urls else None)
    try:
        if content is None:
            return Taken("url:" + urls[0].lower(), errors=errors)
        key, data = _sha256(content)
        taken = Taken(f"sha256:{key}", errors=errors)
        held = _held(ctx, taken.content_key) if dedupe else None
        if held is not None:
            # A duplicate report: these very bytes were hashed and matched when the case
            # opened, and the case keeps their signals, matches and encrypted copy. Hashing
            # is most of a report's CPU, and duplicates come in bursts (viral content).
            taken.content_type = held.content_type
            taken.signals, taken.matches = dict(held.signals or {}), list(held.matches or [])
            taken.unkept = data
            return taken
        try:
            taken.content_type, parsed = _hash(ctx, Path(content.name))
        except NodeError as exc:
            # Content that cannot be hashed (a document, a damaged file) is still reported
            # and reviewed; only matching is not possible.
            errors.append(f"{(source or '')[:200]}: {exc}")
            parsed = {}
        if parsed:
            found = ctx.node.match(parsed, source=source, record=False)
            taken.signals, taken.matches = found["signals"], _evidence(found["matches"])
        taken.evidence = ctx.vault.put(data)
        return taken
    finally:
        if content is not None and content is not upload:
            content.close()


def file_report(ctx: Context, report: ReportIn, upload: IO[bytes] | None,
                upload_name: str | None, flagger: str | None) -> dict[str, Any]:
    """File a report; returns its acknowledgement."""
    if not report.good_faith:
        raise NodeError("confirm that the report is made in good faith (good_faith: true)", 422)
    if upload is None and not report.urls:
        raise NodeError("name the content: give `urls` or upload the file", 422)
    taken = take_content(ctx, upload, upload_name, report.urls)
    content_key, content_type, evidence = taken.content_key, taken.content_type, taken.evidence
    signals, matches, fetch_errors = taken.signals, taken.matches, taken.errors
    now = ctx.now()
    trusted = flagger is not None
    labels = [report.reason]
    values = queue.case_values(
        ctx, "report", now, labels=labels, matches=matches, trusted=trusted, reports=1,
        content_key=content_key, subject=upload_name or (report.urls[0] if report.urls
                                                           else None),
        account=report.account, content_type=content_type, evidence=evidence,
        signals=signals or None)
    tracking_id = "R-" + secrets.token_hex(8)

    def write(conn: Connection, case_id: int) -> None:
        conn.execute(insert(mod_reports).values(
            tracking_id=tracking_id, case_id=case_id, received_at=now, reason=report.reason,
            explanation=report.explanation, reporter_name=report.reporter_name,
            reporter_email=report.reporter_email, trusted=trusted, flagger=flagger,
            urls=report.urls, upload_name=upload_name, content_key=content_key,
            fetch_errors=fetch_errors or None))

    case_id, merged = queue.open_or_merge(ctx, values, trusted, write)
    if merged and evidence is not None:
        _drop_unused(ctx, case_id, evidence)
    elif not merged and taken.unkept is not None:
        _keep_late(ctx, case_id, taken.unkept)
    return {"tracking_id": tracking_id, "received_at": iso(now), "reason": report.reason,
            "case": case_id, "status": "open", "matched": bool(matches),
            "reports_of_this_content": merged_count(ctx, case_id) if merged else 1,
            "decided_at": None, "trusted": trusted, "outcome": None}


def merged_count(ctx: Context, case_id: int) -> int:
    with ctx.store.read() as conn:
        return int(conn.execute(select(mod_cases.c.report_count).where(
            mod_cases.c.id == case_id)).scalar_one())


def _held(ctx: Context, content_key: str) -> Any:
    """The open case that already holds this content (a duplicate report), or None: its
    content type, signals and matches."""
    with ctx.store.read() as conn:
        return conn.execute(select(mod_cases.c.content_type, mod_cases.c.signals,
                                   mod_cases.c.matches).where(
            mod_cases.c.open_key == content_key, mod_cases.c.evidence.is_not(None))).first()


def _keep_late(ctx: Context, case_id: int, data: bytes) -> None:
    """Keep the content of a new case opened by a duplicate report whose case closed in the
    meantime (its signals and matches came from that case: the same bytes)."""
    evidence = ctx.vault.put(data)
    with ctx.node.plain_write() as conn:
        kept = conn.execute(update(mod_cases).where(
            mod_cases.c.id == case_id, mod_cases.c.evidence.is_(None)).values(
            evidence=evidence)).rowcount
    if not kept:
        ctx.vault.delete(evidence)


def _drop_unused(ctx: Context, case_id: int, evidence: str) -> None:
    with ctx.store.read() as conn:
        kept = conn.execute(select(mod_cases.c.evidence).where(
            mod_cases.c.id == case_id)).scalar_one()
    if kept != evidence:
        ctx.vault.delete(evidence)


def _evidence(matches: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: m.get(k) for k in ("signal_type", "distance", "bank", "entry", "origin",
                                    "labels", "incident", "disputed", "segments")}
            for m in matches]


def report_status(ctx: Context, tracking_id: str) -> dict[str, Any]:
    """What the reporter may know: received, where it stands, and how it ended."""
    with ctx.store.read() as conn:
        row = conn.execute(select(mod_reports, mod_cases.c.status, mod_cases.c.report_count,
                                  mod_cases.c.decided_at, mod_cases.c.matches)
                           .join(mod_cases, mod_cases.c.id == mod_reports.c.case_id)
                           .where(mod_reports.c.tracking_id == tracking_id)).first()
    if row is None:
        raise NotFound(f"no report with tracking id {tracking_id!r}")
    with ctx.store.read() as conn:
        outcome = conn.execute(select(mod_decisions.c.action).where(
            mod_decisions.c.case_id == row.case_id, mod_decisions.c.action != "escalate")
            .order_by(mod_decisions.c.id.desc()).limit(1)).scalar_one_or_none()
    return {"outcome": outcome, "tracking_id": row.tracking_id, "received_at": iso(row.received_at),
            "reason": row.reason, "case": row.case_id, "status": row.status,
            "matched": bool(row.matches), "reports_of_this_content": row.report_count,
            "decided_at": iso(row.decided_at), "trusted": row.trusted}
