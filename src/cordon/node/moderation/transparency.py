"""The yearly transparency report: notices received and handled, median handling time,
removal orders and their execution times, removals by label and by detection, automated
versus human decisions, appeals and reversals, and how often reviewers confirmed what the
matcher found."""

from __future__ import annotations

import statistics
from collections import Counter
from datetime import datetime
from typing import Any

from sqlalchemy import select

from cordon.node.moderation import clock
from cordon.node.moderation.context import Context
from cordon.store.models import node_matches
from cordon.store.moderation_models import (
    mod_appeals,
    mod_cases,
    mod_decisions,
    mod_orders,
    mod_reports,
)

FINAL = ("remove", "restrict", "no_action")


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None


def year_bounds(ctx: Context, year: int) -> tuple[datetime, datetime]:
    """The calendar year in the platform's time zone, as UTC instants."""
    if not 1970 <= year <= 9998:
        from cordon.node.service import NodeError

        raise NodeError(f"year {year} is out of range", 422)
    tz = clock.zone(ctx.settings.timezone)
    start = datetime(year, 1, 1, tzinfo=tz)
    end = datetime(year + 1, 1, 1, tzinfo=tz)
    return clock.add_elapsed(start), clock.add_elapsed(end)


def report(ctx: Context, year: int) -> dict[str, Any]:
    start, end = year_bounds(ctx, year)
    with ctx.store.read() as conn:
        reports = conn.execute(select(mod_reports.c.received_at, mod_reports.c.case_id,
                                      mod_reports.c.trusted)
                               .where(mod_reports.c.received_at >= start,
                                      mod_reports.c.received_at < end)).all()
        decisions = conn.execute(
            select(mod_decisions.c.action, mod_decisions.c.labels, mod_decisions.c.decided_at,
                   mod_decisions.c.automated_detection, mod_cases.c.kind,
                   mod_cases.c.opened_at, mod_cases.c.matches, mod_cases.c.id)
            .join(mod_cases, mod_cases.c.id == mod_decisions.c.case_id)
            .where(mod_decisions.c.decided_at >= start, mod_decisions.c.decided_at < end)
        ).all()
        orders = conn.execute(select(mod_orders).where(mod_orders.c.received_at >= start,
                                                       mod_orders.c.received_at < end)).all()
        appeals = conn.execute(select(mod_appeals).where(mod_appeals.c.filed_at >= start,
                                                         mod_appeals.c.filed_at < end)).all()
        automated = conn.execute(select(node_matches.c.actions).where(
            node_matches.c.at >= start, node_matches.c.at < end)).all()
    decided_cases = {d.id: d for d in decisions if d.action in FINAL}
    handled_times = [(d.decided_at - r.received_at).total_seconds()
                     for r in reports if (d := decided_cases.get(r.case_id)) is not None]
    removals = [d for d in decisions if d.action in ("remove", "restrict")
                and d.kind != "appeal"]
    by_label: Counter[str] = Counter()
    by_detection: Counter[str] = Counter()
    for d in removals:
        for label in d.labels or ["(none)"]:
            by_label[label] += 1
        if d.kind == "order":
            by_detection["removal order"] += 1
        elif d.kind == "match" or d.matches:
            by_detection["hash match"] += 1
        else:
            by_detection["user report"] += 1
    reviewed_matches = [d for d in decisions if d.action in FINAL and d.kind != "appeal"
                        and d.automated_detection]
    confirmed = sum(1 for d in reviewed_matches if d.action in ("remove", "restrict"))
    executions = [(o.executed_at - o.received_at).total_seconds() for o in orders
                  if o.executed_at is not None]
    automatic = sum(1 for row in automated if "block" in (row.actions or []))
    human = sum(1 for d in decisions if d.action in (*FINAL, "uphold", "reverse"))
    reversed_count = sum(1 for a in appeals if a.status == "reversed")
    return {
        "year": year, "timezone": ctx.settings.timezone,
        "period": {"from": start.isoformat(), "to": end.isoformat()},
        "notices": {"received": len(reports),
                    "from_trusted_flaggers": sum(1 for r in reports if r.trusted),
                    "distinct_items": len({r.case_id for r in reports}),
                    "handled": len(handled_times),
                    "median_handling_seconds": _median(handled_times)},
        "orders": {"received": len(orders), "executed": len(executions),
                   "executed_within_hour": sum(1 for s in executions if s <= 3600),
                   "median_execution_seconds": _median(executions),
                   "max_execution_seconds": max(executions) if executions else None,
                   "pending": sum(1 for o in orders if o.executed_at is None)},
        "removals": {"total": len(removals), "by_label": dict(by_label.most_common()),
                     "by_detection": dict(by_detection.most_common())},
        "decisions": {"automated": automatic, "human": human},
        "appeals": {"received": len(appeals), "reversed": reversed_count,
                    "upheld": sum(1 for a in appeals if a.status == "upheld"),
                    "open": sum(1 for a in appeals if a.status == "open")},
        "accuracy": {"reviewed_automated_detections": len(reviewed_matches),
                     "confirmed": confirmed,
                     "confirmed_share": round(confirmed / len(reviewed_matches), 4)
                     if reviewed_matches else None},
    }


def render_text(data: dict[str, Any]) -> str:
    """The report as readable text (the CLI's default output)."""
    def secs(value: float | None) -> str:
        if value is None:
            return "-"
        return f"{value / 3600:.1f} h" if value >= 3600 else f"{value / 60:.1f} min"

    n, o, r, a, acc = (data["notices"], data["orders"], data["removals"], data["appeals"],
                       data["accuracy"])
    lines = [f"Transparency report {data['year']} ({data['timezone']})", "",
             f"Notices received: {n['received']} ({n['from_trusted_flaggers']} from trusted "
             f"flaggers, {n['distinct_items']} distinct items)",
             f"Notices handled: {n['handled']}; median handling time "
             f"{secs(n['median_handling_seconds'])}",
             f"Removal orders: {o['received']} received, {o['executed']} executed "
             f"({o['executed_within_hour']} within one hour), median execution "
             f"{secs(o['median_execution_seconds'])}, {o['pending']} pending",
             f"Removals and restrictions: {r['total']}"]
    lines += [f"  by detection: {k}: {v}" for k, v in r["by_detection"].items()]
    lines += [f"  by label: {k}: {v}" for k, v in r["by_label"].items()]
    lines += [f"Decisions: {data['decisions']['automated']} automated (rule blocks), "
              f"{data['decisions']['human']} by reviewers",
              f"Appeals: {a['received']} received, {a['reversed']} reversed, {a['upheld']} "
              f"upheld, {a['open']} open",
              f"Automated detection confirmed by reviewers: {acc['confirmed']} of "
              f"{acc['reviewed_automated_detections']}"
              + (f" ({acc['confirmed_share']:.1%})" if acc["confirmed_share"] is not None
                 else "")]
    return "\n".join(lines)
