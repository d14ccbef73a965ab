"""Content-type detection from the bytes, never from the file name."""

from __future__ import annotations

import filetype

from cordon.content import ContentType

# How many leading bytes are enough to tell every format we decode.
SNIFF_BYTES = 8192

_VIDEO_EXTRA_MIMES = {"application/x-matroska", "application/ogg", "audio/ogg"}
# Mime types filetype reports for containers that may hold audio only; PyAV decides later.
_AMBIGUOUS_AV = {"audio/mp4", "audio/x-m4a"}


def _is_mpeg_ts(head: bytes) -> bool:
    # MPEG-TS has no magic, only a sync byte every 188 bytes.
    if len(head) < 188 * 3:
        return False
    return all(head[i] == 0x47 for i in range(0, 188 * 3, 188))


def sniff_content_type(head: bytes) -> tuple[ContentType, str | None]:
    """Return (content type, mime) for the first bytes of a file.

    GIFs come back as images; whether one is animated (and so hashed as a video) needs the
    whole file, which the image decoder reads.
    """
    if not head:
        return ContentType.OTHER, None
    kind = filetype.guess(head)
    mime = kind.mime if kind else None
    if mime and mime.startswith("image/"):
        return ContentType.IMAGE, mime
    if mime and (mime.startswith("video/") or mime in _VIDEO_EXTRA_MIMES | _AMBIGUOUS_AV):
        return ContentType.VIDEO, mime
    if _is_mpeg_ts(head):
        return ContentType.VIDEO, "video/mp2t"
    return ContentType.OTHER, mime
