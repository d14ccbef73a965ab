"""Feed cursors: opaque to followers, a change number inside."""

from __future__ import annotations

import base64
import binascii
import re

from cordon.hub.errors import HubError

_FORM = re.compile(r"c1\.(\d{1,18})")


def encode(seq: int) -> str:
    return base64.urlsafe_b64encode(f"c1.{seq}".encode()).decode().rstrip("=")


def decode(cursor: str | None) -> int:
    """The change number of a cursor; an absent or empty cursor starts from the beginning."""
    if cursor is None or cursor == "":
        return 0
    text = cursor.strip()
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode("ascii")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raw = ""
    match = _FORM.fullmatch(raw)
    if len(text) > 40 or match is None:
        raise HubError("malformed cursor: pass back a cursor the hub returned, or none to "
                       "start from the beginning")
    return int(match.group(1))
