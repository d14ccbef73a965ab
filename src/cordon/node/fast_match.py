"""The short path of `POST /v1/match` by signals: the node's most frequent request, answered
without the framework's routing, dependency and validation layers.

It takes only the plain case: a short JSON body `{"signals": {...}}` that parses, a bearer
token the in-memory token cache knows, and an index that no write holds at that instant. A
query that matches nothing (nearly all of them) is answered here, on the event loop: an index
lookup is a fraction of a millisecond, and there are no rules to apply and nothing to record.
A query that matches is answered here too, by `Node.match_async`, the event-loop form of the
`Node.match` the application calls (the match-log writer thread applies the rules and the
answer waits until the match is committed to the match log, with its webhook events),
serialised through the same response model: the framework's routing, dependency and
validation layers cost more CPU than the match itself, and under load that CPU is the
matches' wait. Should the match fail, nothing was recorded
(a match is recorded last, in one transaction) and the request goes on to the application,
which answers with the documented error. Every other request (a malformed or unauthorised
request; a busy index) goes on unchanged to the application with its body replayed, so
answers keep exactly the shapes and statuses of the documented API.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cordon.errors import CordonError
from cordon.node import roles
from cordon.node.metrics import NodeMetrics
from cordon.node.routes.match import parse_signals
from cordon.node.schemas import MatchOut
from cordon.node.service import Node
from cordon.signals import get_signal_type

log = logging.getLogger("cordon.node.fast_match")
_PATH = "/v1/match"
_MAX_SIGNALS = 16
# Larger bodies (video signals: many frames, or TMK's 256 KB) cost more to match than the event
# loop should wait for; they take the full path, which matches on a worker thread.
_SHORT_BODY = 4096
_JSON_HEADERS = [(b"content-type", b"application/json")]


class FastMatch:
    def __init__(self, app: ASGIApp, node: Node, metrics: NodeMetrics | None = None) -> None:
        self.app = app
        self.node = node
        self.metrics = metrics
        self._refresh: asyncio.Task[None] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != _PATH:
            await self.app(scope, receive, send)
            return
        content_type = authorization = b""
        for name, value in scope["headers"]:
            if name == b"content-type":
                content_type = value
            elif name == b"authorization":
                authorization = value
        if not await self._may_match(authorization) \
                or not content_type.lower().startswith(b"application/json"):
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        received, body = await self._body(receive)
        signals = None if body is None else self._signals(body)
        if signals is None:
            await self.app(scope, _replay(received, receive), send)
            return
        found = self.node.quick_find(signals)
        if found is None:  # a write holds the index: the full path waits for it
            await self.app(scope, _replay(received, receive), send)
            return
        if found:
            try:
                response = await self.node.match_async(signals, found)
            except Exception:
                # Nothing was recorded: the application answers (its error, or a retry that
                # succeeds) in the documented shapes.
                await self.app(scope, _replay(received, receive), send)
                return
            payload = orjson.dumps(MatchOut.model_validate(response).model_dump(mode="json"))
        else:
            query = {n: get_signal_type(n).to_json(v) for n, v in signals.items()}
            payload = orjson.dumps({"signals": query, "matches": [], "actions": []})
        await send({"type": "http.response.start", "status": 200,
                    "headers": [*_JSON_HEADERS,
                                (b"content-length", str(len(payload)).encode())]})
        await send({"type": "http.response.body", "body": payload})
        if self.metrics is not None:
            self.metrics.requests.labels("POST", _PATH, "200").inc()
            self.metrics.latency.labels("POST", _PATH).observe(time.perf_counter() - start)

    async def _refresh_tokens(self) -> None:
        try:
            await run_in_threadpool(self.node.tokens.refresh)
        except Exception:  # the store is busy or down: the stale path reads it again
            log.warning("token cache: reload failed", exc_info=True)
        finally:
            self._refresh = None

    async def _may_match(self, authorization: bytes) -> bool:
        """Whether the token is live and of a role that may match, from the token cache."""
        scheme, _, token = authorization.decode("latin-1").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return False
        tokens = self.node.tokens
        if not tokens.fresh():
            # Stale: read the store on a worker thread, not on the event loop.
            await run_in_threadpool(tokens.name, token)
        elif tokens.due() and self._refresh is None:
            # Reload ahead, once, while requests go on from memory: a cache that went stale
            # once a second sent every request of that moment through a thread of its own.
            self._refresh = asyncio.get_running_loop().create_task(self._refresh_tokens())
        found = tokens.peek(token)
        if found is None:
            return False
        # Matching is for the platform's roles (cordon.node.roles); a token of another role
        # goes on to the application, which refuses it with the documented 403.
        return getattr(found, "role", roles.ADMIN) in roles.PLATFORM

    async def _body(self, receive: Receive) -> tuple[list[Message], bytes | None]:
        """The messages read and the whole body, or None when it is too large for the short
        path (or the client went away)."""
        received: list[Message] = []
        chunks: list[bytes] = []
        size = 0
        limit = min(self.node.settings.max_json_bytes, _SHORT_BODY)
        while True:
            message = await receive()
            received.append(message)
            if message["type"] != "http.request":
                return received, None
            chunk = message.get("body", b"")
            size += len(chunk)
            chunks.append(chunk)
            if size > limit:
                return received, None
            if not message.get("more_body", False):
                return received, b"".join(chunks)

    @staticmethod
    def _signals(body: bytes) -> dict[str, Any] | None:
        """Parsed signal values of a well-formed `{"signals": {...}}`, else None."""
        try:
            given = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None
        if not isinstance(given, dict) or given.keys() != {"signals"}:
            return None
        signals = given["signals"]
        if not isinstance(signals, dict) or not 0 < len(signals) <= _MAX_SIGNALS or not all(
                isinstance(v, (str, dict)) for v in signals.values()):
            return None
        try:
            return parse_signals(signals)
        except CordonError:
            return None


def _replay(received: list[Message], receive: Receive) -> Receive:
    """A receive channel that gives back what was read, then the rest of the request."""
    pending = list(received)

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay
