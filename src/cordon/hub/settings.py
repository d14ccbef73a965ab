"""What a hub process is configured with."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_PORT = 8700


@dataclass(frozen=True)
class HubSettings:
    database_url: str | None = None
    # Request bodies larger than this are refused with 413 while they are read.
    max_body_bytes: int = 32 * 1024 * 1024
    # Entries per contribution request.
    max_entries: int = 10_000
    # Entries per feed page.
    max_feed_limit: int = 10_000
    default_feed_limit: int = 1_000
    # Requests per second per token, and the burst a token may spend at once.
    rate_limit: float = 100.0
    rate_burst: int = 200
    # An entry is disputed once this many members reported it as a false positive.
    dispute_threshold: int = 2
    # Seconds between two heartbeats of an idle stream.
    heartbeat_seconds: float = 5.0
    # Seconds a stream waits for a wake-up before it looks at the database anyway: the
    # safety net when a notification is lost (e.g. while LISTEN reconnects).
    stream_poll_seconds: float = 2.0
    # Listen for PostgreSQL notifications of other hub processes.
    listen: bool = True
