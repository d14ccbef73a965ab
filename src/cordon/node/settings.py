"""What a node process is configured with."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_PORT = 8800


@dataclass(frozen=True)
class NodeSettings:
    database_url: str | None = None
    # The hub to follow; without one the node matches its private banks only.
    hub_url: str | None = None
    hub_token: str | None = None
    # Hub banks to mirror (None: every bank the token may see).
    follow: tuple[str, ...] | None = None
    # Seconds between two feed reads while the push stream is down.
    poll_seconds: float = 5.0
    use_stream: bool = True
    # Uploads (multipart or raw) larger than this get 413, counted while they arrive.
    max_upload_bytes: int = 200 * 1024 * 1024
    # JSON bodies larger than this get 413.
    max_json_bytes: int = 4 * 1024 * 1024
    # Fetching `{"url": ...}`: limits, and the networks that may be reached although they are
    # private (CIDR strings; none by default).
    fetch_max_bytes: int = 200 * 1024 * 1024
    fetch_timeout: float = 30.0
    fetch_max_redirects: int = 5
    fetch_allow_networks: tuple[str, ...] = ()
    # Webhook deliveries: first retry after `retry_base` seconds, doubling up to `retry_max`,
    # given up `retry_for` seconds after the event.
    retry_base: float = 5.0
    retry_max: float = 3600.0
    retry_for: float = 48 * 3600.0
    delivery_timeout: float = 10.0
    # Live tokens are kept in memory and read again this often: a token revoked by another
    # process on the same database stops working within this many seconds.
    token_cache_seconds: float = 1.0
    # Several processes on one port (`serve --workers N`): the file whose lock makes one
    # process the leader (it follows the hub and delivers webhooks), and how often every
    # process reads the entries the others wrote (0: a single process, no reading).
    leader_lock: str | None = None
    tail_seconds: float = 0.0
    # Live streams (`/v1/streams`): how many one node process watches at once (further start
    # requests are refused), the networks whose private addresses may be watched (CIDR
    # strings; none by default), frames hashed per second (0: every decoded frame), and the
    # connect/read timeout.
    stream_max: int = 32
    stream_allow_networks: tuple[str, ...] = ()
    stream_fps: float = 0.0
    stream_timeout: float = 10.0
    stream_max_reconnects: int = 5
    # Per-signal match thresholds (signal type -> threshold); defaults otherwise.
    thresholds: tuple[tuple[str, float], ...] = ()
