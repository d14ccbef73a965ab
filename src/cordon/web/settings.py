"""What the web UI is configured with (the same for the hub and the node)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from cordon.errors import CordonError

# Environment variables of an operator's choices, and the setting (in seconds) they give.
ENVIRONMENT = {
    "CORDON_UI_IDLE_MINUTES": ("idle_seconds", 60.0),
    "CORDON_UI_SESSION_HOURS": ("absolute_seconds", 3600.0),
    "CORDON_UI_LOCK_MINUTES": ("lock_seconds", 60.0),
    "CORDON_UI_UPLOAD_MAX_MB": ("max_form_upload_bytes", float(1 << 20)),
}


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
    # Files one "build the bank from files" form of the node may carry (each is bounded by
    # the node's --max-upload).
    max_upload_files: int = 200
    # Bytes one file form (multipart) may carry in all, counted as it arrives, so a hostile
    # upload is cut off at this size instead of being spooled to disk whole.
    max_form_upload_bytes: int = 1 << 30

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> WebSettings:
        environ = os.environ if environ is None else environ
        settings = cls()
        for name, (field, unit) in ENVIRONMENT.items():
            text = environ.get(name, "").strip()
            if not text:
                continue
            try:
                value = float(text)
            except ValueError:
                value = -1.0
            if not 0 < value < 1e6:
                raise CordonError(f"{name} must be a positive number, not {text!r}")
            current = getattr(settings, field)
            setattr(settings, field, type(current)(value * unit))
        return settings
