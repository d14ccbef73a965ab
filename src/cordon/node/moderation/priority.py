"""Where a case goes in the queue: its tier (removal orders, then imminent threats, then the
rest), its priority within the tier, and its deadline."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cordon.node.moderation import clock
from cordon.node.moderation.settings import ModerationSettings

TIER_ORDER, TIER_IMMINENT, TIER_OTHER = 0, 1, 2
IMMINENT = "behaviour:imminent-credible-threat"

# Weights of what raises a case within its tier.
KNOWN_CONTENT = 100
INCIDENT = 50
TRUSTED_FLAGGER = 40
HUB_CONFIRMED = 20
PER_DUPLICATE = 2
DUPLICATES_COUNTED = 25
APPEAL = 30


@dataclass(frozen=True)
class Placement:
    tier: int
    priority: int
    deadline_at: datetime


def is_imminent(labels: Iterable[str], matches: Sequence[Mapping[str, Any]] = ()) -> bool:
    return IMMINENT in labels or any(IMMINENT in m.get("labels", ()) for m in matches)


def place(kind: str, opened_at: datetime, settings: ModerationSettings, *,
          labels: Sequence[str] = (), matches: Sequence[Mapping[str, Any]] = (),
          trusted: bool = False, reports: int = 0) -> Placement:
    """The tier, priority and deadline of a case opened at `opened_at`."""
    tz = clock.zone(settings.timezone)
    priority = 0
    if matches:
        priority += KNOWN_CONTENT
    if any(m.get("incident") for m in matches):
        priority += INCIDENT
    if trusted:
        priority += TRUSTED_FLAGGER
    priority += PER_DUPLICATE * min(max(reports - 1, 0), DUPLICATES_COUNTED)
    if kind == "order":
        return Placement(TIER_ORDER, priority,
                         clock.add_elapsed(opened_at, minutes=settings.order_minutes))
    if kind == "appeal":
        return Placement(TIER_OTHER, priority + APPEAL,
                         clock.add_calendar(opened_at, tz, days=settings.appeal_answer_days))
    if is_imminent(labels, matches):
        return Placement(TIER_IMMINENT, priority,
                         clock.add_elapsed(opened_at, minutes=settings.imminent_minutes))
    hours = settings.match_hours if kind == "match" else settings.report_hours
    return Placement(TIER_OTHER, priority, clock.add_elapsed(opened_at, hours=hours))
