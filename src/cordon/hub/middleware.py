"""ASGI middleware: the request-body limit and the refusal of media uploads."""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Bodies the hub never accepts: it stores signals, never content.
_MEDIA_PREFIXES = ("image/", "video/", "audio/", "multipart/", "application/octet-stream")


async def _reply(send: Send, status: int, message: str) -> None:
    body = json.dumps({"detail": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


class GuardBody:
    """Refuses media bodies (415) and bodies over `limit` bytes (413). The limit is enforced
    on the bytes as they arrive, whatever Content-Length says (or whether it is sent).

    There is no exception, not even for the web UI: its forms send hashes and hash lists as
    form text (urlencoded), and media is hashed where it lives, on the member's node.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        content_type = headers.get(b"content-type", b"").decode("latin-1").lower().strip()
        if content_type.startswith(_MEDIA_PREFIXES):
            await _reply(send, 415, "the hub takes signals and labels, never content: hash "
                         "the content and send its signals")
            return
        declared = headers.get(b"content-length")
        too_large = f"the request body is larger than {self.limit} bytes"
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await _reply(send, 413, too_large)
            return
        # Read the whole body here, counting as it arrives, so that an oversized body is
        # refused before the application parses any of it (and whatever it does with errors
        # raised while it reads).
        chunks: list[bytes] = []
        received = 0
        more = scope["method"] not in ("GET", "HEAD", "OPTIONS")
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > self.limit:
                await _reply(send, 413, too_large)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def client_address(scope: dict[str, Any]) -> str | None:
    client = scope.get("client")
    return None if not client else str(client[0])
