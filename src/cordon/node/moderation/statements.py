"""Statements of reasons (DSA art. 17): what was restricted and how, the facts, whether
automated means detected it and decided, the ground, and how to appeal; and their export in
the field layout of the EU DSA Transparency Database."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select

from cordon.node.moderation.context import Context, NotFound, iso
from cordon.node.service import NodeError
from cordon.store.moderation_models import mod_cases, mod_decisions, mod_statements

RESTRICTIONS = {"remove": "the content was removed", "restrict": "access to the content was "
                "disabled"}
VISIBILITY = {"remove": "DECISION_VISIBILITY_CONTENT_REMOVED",
              "restrict": "DECISION_VISIBILITY_CONTENT_DISABLED"}
CONTENT_TYPES = {"image": "CONTENT_TYPE_IMAGE", "video": "CONTENT_TYPE_VIDEO"}
SOURCES = {"report": "SOURCE_ARTICLE_16", "trusted": "SOURCE_TRUSTED_FLAGGER",
           "match": "SOURCE_VOLUNTARY", "order": "SOURCE_TYPE_OTHER_NOTIFICATION"}


def detection(case: Any, trusted: bool) -> str:
    if case.kind == "report":
        return "trusted" if trusted else "report"
    return str(case.kind)


def build(case: Any, decision: Mapping[str, Any], source: str, appeal_until: datetime,
          appeal_how: str) -> dict[str, Any]:
    """The statement's content, in plain words and with the facts of the case."""
    matches: Sequence[Mapping[str, Any]] = case.matches or []
    automated_detection = bool(matches) or case.kind == "match"
    facts = []
    if matches:
        best = min(matches, key=lambda m: m.get("distance") or 0)
        facts.append(f"The content matched the {best.get('signal_type')} fingerprint of entry "
                     f"{best.get('entry')} in bank {best.get('bank')} at distance "
                     f"{best.get('distance')}.")
    if case.report_count:
        facts.append(f"{case.report_count} user report(s) named the content.")
    if case.kind == "order":
        facts.append("A removal order from a competent authority named the content.")
    facts.append(f"A reviewer decided: {decision['action']}.")
    return {
        "restriction": decision["action"],
        "restriction_text": RESTRICTIONS.get(decision["action"], decision["action"]),
        "content": case.subject, "content_type": case.content_type,
        "account": decision.get("account"), "labels": list(decision["labels"]),
        "facts": " ".join(facts), "note": decision.get("note"),
        "ground": decision["ground"], "ground_reference": decision.get("ground_reference"),
        "source": source, "automated_detection": automated_detection,
        # Every restriction here is taken by a reviewer; automated blocking by rules happens
        # before content is published and is reported in the transparency report.
        "automated_decision": "not_automated",
        "decided_at": iso(decision["decided_at"]),
        "appeal": {"until": iso(appeal_until), "how": appeal_how},
    }


def public(row: Any) -> dict[str, Any]:
    return {"id": row.id, "decision": row.decision_id, "created_at": iso(row.created_at),
            "account": row.account, "appeal_until": iso(row.appeal_until),
            "reversed_at": iso(row.reversed_at), **row.body}


def get(ctx: Context, statement_id: int) -> dict[str, Any]:
    with ctx.store.read() as conn:
        row = conn.execute(select(mod_statements).where(
            mod_statements.c.id == statement_id)).first()
    if row is None:
        raise NotFound(f"no statement with id {statement_id}")
    return public(row)


def listing(ctx: Context, limit: int = 100, before: int | None = None) -> list[dict[str, Any]]:
    query = select(mod_statements).order_by(mod_statements.c.id.desc()).limit(limit)
    if before is not None:
        query = query.where(mod_statements.c.id < before)
    with ctx.store.read() as conn:
        return [public(r) for r in conn.execute(query)]


def check_territory(codes: Sequence[str]) -> list[str]:
    """ISO 3166-1 alpha-2 codes of the member states where the decision applies."""
    out = []
    for code in codes:
        code = code.strip().upper()
        if len(code) != 2 or not code.isalpha() or not code.isascii():
            raise NodeError(f"territory {code[:10]!r} is not a two-letter country code (e.g. DE)",
                            422)
        out.append(code)
    return list(dict.fromkeys(out))


def dsa_record(statement: Mapping[str, Any], platform_uid: str,
               territory: Sequence[str] = ()) -> dict[str, Any]:
    """One statement in the DSA Transparency Database's submission fields."""
    law = statement["ground"] == "law"
    decided = (statement.get("decided_at") or "")[:10]
    record: dict[str, Any] = {
        "decision_visibility": [VISIBILITY.get(statement["restriction"],
                                               "DECISION_VISIBILITY_OTHER")],
        "decision_ground": ("DECISION_GROUND_ILLEGAL_CONTENT" if law
                            else "DECISION_GROUND_INCOMPATIBLE_CONTENT"),
        "category": "STATEMENT_CATEGORY_RISK_FOR_PUBLIC_SECURITY",
        "category_specification": ["KEYWORD_TERRORIST_CONTENT"],
        "content_type": [CONTENT_TYPES.get(statement.get("content_type") or "",
                                           "CONTENT_TYPE_OTHER")],
        "source_type": SOURCES.get(statement["source"], "SOURCE_VOLUNTARY"),
        "automated_detection": "Yes" if statement["automated_detection"] else "No",
        "automated_decision": "AUTOMATED_DECISION_NOT_AUTOMATED",
        "decision_facts": statement["facts"],
        "application_date": decided,
        "content_date": decided,
        "puid": f"{platform_uid}-{statement['id']}",
    }
    if territory:
        record["territorial_scope"] = list(territory)
    if statement.get("content_type") not in CONTENT_TYPES:
        record["content_type_other"] = statement.get("content_type") or "unknown"
    reference = statement.get("ground_reference") or ("Regulation (EU) 2021/784 (terrorist "
                                                     "content online)" if law else
                                                     "terms of service")
    if law:
        record["illegal_content_legal_ground"] = reference
        record["illegal_content_explanation"] = statement["facts"]
    else:
        record["incompatible_content_ground"] = reference
        record["incompatible_content_explanation"] = statement["facts"]
        record["incompatible_content_illegal"] = "No"
    return record


def dsa_export(ctx: Context, platform_uid: str, since: datetime | None = None,
               until: datetime | None = None, territory: Sequence[str] = ()
               ) -> list[dict[str, Any]]:
    territory = check_territory(territory)
    query = select(mod_statements).order_by(mod_statements.c.id)
    if since is not None:
        query = query.where(mod_statements.c.created_at >= since)
    if until is not None:
        query = query.where(mod_statements.c.created_at < until)
    with ctx.store.read() as conn:
        return [dsa_record(public(r), platform_uid, territory) for r in conn.execute(query)]


def for_case(ctx: Context, case_id: int) -> list[dict[str, Any]]:
    with ctx.store.read() as conn:
        rows = conn.execute(select(mod_statements).join(
            mod_decisions, mod_decisions.c.id == mod_statements.c.decision_id)
            .join(mod_cases, mod_cases.c.id == mod_decisions.c.case_id)
            .where(mod_cases.c.id == case_id)).all()
    return [public(r) for r in rows]
