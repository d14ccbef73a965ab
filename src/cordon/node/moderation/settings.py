"""What moderation is configured with: clocks, priorities' inputs, retention, the key."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ModerationSettings:
    # Encrypted content and the key file live here (default: next to a SQLite database,
    # `<name>-moderation/`; with PostgreSQL `<CORDON_HOME>/moderation`).
    data_dir: Path | None = None
    # A Fernet key file (urlsafe base64, 32 bytes); created in data_dir when absent.
    key_file: Path | None = None
    # The platform's time zone: calendar clocks (appeal window in months, appeal answer in
    # days) run on its calendar, so they keep their local time across daylight-saving changes.
    timezone: str = "UTC"
    order_minutes: int = 60
    imminent_minutes: int = 60
    report_hours: int = 24
    match_hours: int = 24
    appeal_window_months: int = 6
    appeal_answer_days: int = 14
    preserve_months: int = 6
    # Content of reports decided with no action is kept this long, then purged.
    no_action_days: int = 30
    # A strike suspends live streaming this long.
    live_suspension_days: int = 30
    # Uploads with a report; larger ones get 413.
    max_report_upload_bytes: int = 50 * 1024 * 1024
    max_report_urls: int = 5
    # Seconds between two automatic purges (0: never automatically).
    purge_every: float = 3600.0
    # Public routes without a token (the report form, notices and appeals): per client
    # address, and for appeals also per notice code; a burst at once, then a steady rate.
    report_per_minute: int = 10
    report_burst: int = 10
    appeal_per_minute: int = 5
    appeal_burst: int = 10


ENV_DIR = "CORDON_MODERATION_DIR"
ENV_KEY = "CORDON_MODERATION_KEY_FILE"
ENV_TIMEZONE = "CORDON_MODERATION_TIMEZONE"


def from_env() -> ModerationSettings:
    """Settings of a node process from the environment: the data directory, key file and
    time zone, and any whole-number setting as CORDON_MODERATION_<NAME> (e.g.
    CORDON_MODERATION_LIVE_SUSPENSION_DAYS=7); the rest keeps its defaults."""
    import os
    from dataclasses import fields

    from cordon.errors import CordonError

    data_dir = os.environ.get(ENV_DIR, "").strip()
    key_file = os.environ.get(ENV_KEY, "").strip()
    timezone = os.environ.get(ENV_TIMEZONE, "").strip()
    numbers: dict[str, int] = {}
    for item in fields(ModerationSettings):
        if item.type not in ("int", int):
            continue
        name = f"CORDON_MODERATION_{item.name.upper()}"
        raw = os.environ.get(name, "").strip()
        if not raw:
            continue
        if not raw.isdigit() or int(raw) < 1:
            raise CordonError(f"{name} must be a whole number of at least 1, not {raw!r}")
        numbers[item.name] = int(raw)
    return ModerationSettings(data_dir=Path(data_dir) if data_dir else None,
                              key_file=Path(key_file) if key_file else None,
                              timezone=timezone or "UTC", **numbers)


def beside_store(settings: ModerationSettings, database: str | None) -> ModerationSettings:
    """The settings with a data directory next to a SQLite database file when none is set,
    so that each node's content stays with its own store."""
    from dataclasses import replace

    if settings.data_dir is not None or not database or database == ":memory:" \
            or database.startswith("file:"):
        return settings
    path = Path(database)
    return replace(settings, data_dir=path.parent / f"{path.stem}-moderation")
