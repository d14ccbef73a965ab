"""Reading form bodies with a size limit: plain (urlencoded) forms are small, and are read
in full into memory by the form parser, so a body over the limit is refused (413) while it
arrives instead of being buffered. File forms (multipart) are spooled to disk by the parser;
their bytes are counted as they arrive and the form is refused (413) past `upload_limit`."""

from __future__ import annotations

from fastapi import Request
from starlette.datastructures import FormData
from starlette.types import Message

FORM_MAX = 1 << 20
UPLOAD_FORM_MAX = 1 << 30


class TooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"the form is larger than {limit:,} bytes")


async def read_form(request: Request, limit: int = FORM_MAX,
                    upload_limit: int = UPLOAD_FORM_MAX) -> FormData:
    content_type = request.headers.get("content-type", "").lower()
    if content_type.startswith("multipart/"):
        _count_body(request, upload_limit)
    else:
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise TooLarge(limit)
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise TooLarge(limit)
            chunks.append(chunk)
        # Starlette parses the form from the body kept here.
        request._body = b"".join(chunks)
    return await request.form()


def _count_body(request: Request, limit: int) -> None:
    """Make the request's body refuse (TooLarge) past `limit` bytes while the parser reads it:
    a declared length over the limit is refused before anything is read."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise TooLarge(limit)
    receive = request._receive
    size = 0

    async def counted() -> Message:
        nonlocal size
        message = await receive()
        if message["type"] == "http.request":
            size += len(message.get("body", b""))
            if size > limit:
                raise TooLarge(limit)
        return message

    request._receive = counted
