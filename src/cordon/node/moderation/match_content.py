"""Encrypted copies of uploads whose matches a rule sends to review, so that the reviewer of
the match's case sees a preview as for a report. Only such uploads pay for it: a response
without a `review` action stores nothing. Each review match gets its own copy because each
becomes its own case, decided, preserved and purged on its own."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, update

from cordon.node.moderation import queue
from cordon.node.moderation.context import Context
from cordon.store.models import node_matches
from cordon.store.moderation_models import mod_cases, mod_match_contents

log = logging.getLogger("cordon.node.moderation")
REVIEW = "review"


def wanted(response: dict[str, Any]) -> bool:
    """Whether a match response may need a copy (no database read: the fast path)."""
    return any(a.get("action") == REVIEW for a in response.get("actions", ()))


def keep(ctx: Context, content: Path, content_type: str | None,
         response: dict[str, Any]) -> int:
    """Copy the content into the vault for every recorded match of `response` that a rule
    sent to review; returns the copies made. A failure is logged, never raised: the match is
    already recorded and answered, and the case then shows no preview."""
    ids = [m["id"] for m in response.get("matches", ()) if "id" in m]
    if not ids or not wanted(response):
        return 0
    with ctx.store.read() as conn:
        review_ids = [row.id for row in conn.execute(select(
            node_matches.c.id, node_matches.c.actions).where(node_matches.c.id.in_(ids)))
            if REVIEW in (row.actions or [])]
    if not review_ids:
        return 0
    made: list[str] = []
    try:
        data = content.read_bytes()
        made = [ctx.vault.put(data) for _ in review_ids]
        with ctx.node.plain_write() as conn:
            queue.review_lock(conn)
            for match_id, name in zip(review_ids, made, strict=True):
                # The queue may have taken the match in while the copy was being made.
                attached = conn.execute(update(mod_cases).where(
                    mod_cases.c.content_key == f"match:{match_id}",
                    mod_cases.c.evidence.is_(None)).values(
                    evidence=name, content_type=content_type)).rowcount
                if not attached:
                    conn.execute(insert(mod_match_contents).values(
                        match_id=match_id, evidence=name, content_type=content_type))
    except Exception:
        log.exception("could not keep the content of matches %s for review", review_ids)
        for name in made:
            ctx.vault.delete(name)
        return 0
    return len(made)

