"""Deadlines. Clocks given in minutes or hours are elapsed time (a removal order's hour is 60
minutes even across a daylight-saving change); clocks in days or months follow the
platform's calendar in its time zone (an appeal filed at 10:00 local is answered by 10:00
local fourteen days later, whether or not the clocks changed in between)."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cordon.errors import CordonError


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise CordonError(f"unknown time zone {name!r} (e.g. Europe/Berlin, UTC)") from None


def add_elapsed(start: datetime, *, minutes: float = 0, hours: float = 0) -> datetime:
    return start.astimezone(UTC) + timedelta(minutes=minutes, hours=hours)


def add_calendar(start: datetime, tz: ZoneInfo, *, days: int = 0, months: int = 0) -> datetime:
    """`start` moved by calendar days and months on the wall clock of `tz`, as UTC. A day
    past the end of the target month is clamped (31 August + 6 months = 28/29 February); a
    wall-clock time that does not exist that day (skipped by a change to summer time) is
    taken as the same elapsed offset after the gap, as zoneinfo resolves it (fold=0)."""
    local = start.astimezone(tz)
    month_index = local.month - 1 + months
    year = local.year + month_index // 12
    month = month_index % 12 + 1
    day = min(local.day, calendar.monthrange(year, month)[1])
    moved = local.replace(year=year, month=month, day=day, fold=0)
    naive = moved.replace(tzinfo=None) + timedelta(days=days)
    return naive.replace(tzinfo=tz).astimezone(UTC)


def remaining(deadline: datetime, now: datetime) -> float:
    """Seconds left (negative once overdue)."""
    return (deadline - now).total_seconds()
