"""Reading form bodies with a size limit: plain (urlencoded) forms are small, and are read
in full into memory by the form parser, so a body over the limit is refused (413) while it
arrives instead of being buffered. File forms (multipart) are spooled to disk by the parser
and bounded by the service's own body limit."""

from __future__ import annotations

from fastapi import Request
from starlette.datastructures import FormData

FORM_MAX = 1 << 20


class TooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"the form is larger than {limit:,} bytes")


async def read_form(request: Request, limit: int = FORM_MAX) -> FormData:
    content_type = request.headers.get("content-type", "").lower()
    if not content_type.startswith("multipart/"):
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
