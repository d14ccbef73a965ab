"""Feed cursors: opaque to followers, a change number inside."""

from __future__ import annotations

import base64
import binascii
import re

from cordon.hub.errors import HubError

_FORM = re.compile(r"c1\.(\d{1,18})")


# base64's urlsafe alphabet, applied by hand: `encode` runs once per feed entry, and
# `base64.urlsafe_b64encode` costs twice as much through its layers of wrappers.
_URLSAFE = bytes.maketrans(b"+/", b"-_")


def encode(seq: int) -> str:
    return binascii.b2a_base64(b"c1.%d" % seq, newline=False).translate(_URLSAFE).rstrip(
        b"=").decode()


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
