"""What the web UI is configured with (the same for the hub and the node)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class WebSettings:
    # A session ends after this many seconds without a request...
    idle_seconds: float = 30 * 60
    # ... and in any case this many seconds after the login.
    absolute_seconds: float = 12 * 3600
    # Failed logins allowed per user name, and per client address, within `window_seconds`;
    # past that, logins of that name (or from that address) wait for `lock_seconds`.
    user_failures: int = 5
    address_failures: int = 20
    window_seconds: float = 15 * 60
    lock_seconds: float = 15 * 60
    # Files a "build a bank from files" upload may carry, and their total size.
    max_upload_files: int = 200
