"""Matching: uploads (multipart or raw body), signals, or a URL fetched under guards."""

from __future__ import annotations

from pathlib import Path
from typing import IO, Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import ValidationError

from cordon.errors import CordonError, SignalFormatError
from cordon.hashing import MatchingSelection, hash_file
from cordon.node.deps import NodeDep, PlatformCaller
from cordon.node.fetch import fetch
from cordon.node.moderation import match_content
from cordon.node.schemas import HashOut, MatchIn, MatchOut
from cordon.node.service import Node, NodeError
from cordon.node.upload import read_limited, spool_multipart, spool_raw
from cordon.signals import get_signal_type

router = APIRouter(tags=["match"])

_BODY = {
    "requestBody": {"content": {
        "application/json": {"schema": MatchIn.model_json_schema()},
        "multipart/form-data": {"schema": {"type": "object", "properties": {
            "file": {"type": "string", "format": "binary"}}, "required": ["file"]}},
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
    }, "required": True},
}


class Invalid(NodeError):
    status = 422

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(str(errors[0]["msg"]) if errors else "invalid request")
        self.errors = errors


def parse_signals(given: dict[str, Any]) -> dict[str, Any]:
    if not given:
        raise Invalid([{"loc": ["body", "signals"], "msg": "give at least one signal",
                        "type": "value_error"}])
    parsed: dict[str, Any] = {}
    for name, value in given.items():
        try:
            signal = get_signal_type(name)
            parsed[signal.name] = (signal.parse(value) if isinstance(value, str)
                                   else signal.from_json(value))
        except (CordonError, SignalFormatError, TypeError, ValueError, KeyError) as exc:
            raise Invalid([{"loc": ["body", "signals", name], "msg": str(exc) or
                            f"invalid {name} value", "type": "value_error"}]) from None
    return parsed


async def _content(request: Request, node: Node) -> tuple[IO[bytes] | None, str | None,
                                                          dict[str, Any] | None]:
    """(spooled content, its name) or (None, None, parsed signals)."""
    settings = node.settings
    # The multipart boundary is case-sensitive (browsers send mixed case): only the media type
    # is compared in lower case, the header goes to the parser as it came.
    raw_content_type = request.headers.get("content-type", "")
    content_type = raw_content_type.lower()
    if content_type.startswith("multipart/form-data"):
        spooled, name = await spool_multipart(raw_content_type, request.stream(),
                                              settings.max_upload_bytes)
        return spooled, name, None
    if content_type.startswith(("image/", "video/", "application/octet-stream")):
        return await spool_raw(request.stream(), settings.max_upload_bytes), None, None
    if not content_type.startswith("application/json"):
        raise NodeError("send JSON ({\"signals\": ...} or {\"url\": ...}), a multipart upload "
                        "with a `file` field, or the content itself", 415)
    body = await read_limited(request.stream(), settings.max_json_bytes)
    try:
        request_in = MatchIn.model_validate_json(body)
    except ValidationError as exc:
        raise Invalid([{"loc": ["body", *e.get("loc", ())], "msg": e.get("msg", ""),
                        "type": e.get("type", "")} for e in exc.errors()[:100]]) from None
    if (request_in.signals is None) == (request_in.url is None):
        raise Invalid([{"loc": ["body"], "msg": "give either `signals` or `url`",
                        "type": "value_error"}])
    if request_in.signals is not None:
        return None, None, parse_signals(request_in.signals)
    url = request_in.url
    assert url is not None
    spooled = _spool_url(node, url)
    return await run_in_threadpool(spooled), url, None


def _spool_url(node: Node, url: str) -> Any:
    def run() -> IO[bytes]:
        import tempfile

        out = tempfile.NamedTemporaryFile(prefix="cordon-fetch-")  # noqa: SIM115
        try:
            settings = node.settings
            fetch(url, out, max_bytes=settings.fetch_max_bytes, timeout=settings.fetch_timeout,
                  max_redirects=settings.fetch_max_redirects,
                  allowed=settings.fetch_allow_networks)
            out.flush()
            return out
        except BaseException:
            out.close()
            raise
    return run


def _hash(node: Node, spooled: IO[bytes], indexed_only: bool) -> tuple[str | None,
                                                                       dict[str, Any]]:
    names = frozenset(node.matcher.sizes()) if indexed_only else None
    result = hash_file(Path(spooled.name), MatchingSelection(names))
    if result.error is not None:
        raise NodeError(result.error, 422)
    content_type = result.content_type.value if result.content_type else None
    return content_type, result.signals


@router.post("/v1/match", response_model=MatchOut, openapi_extra=_BODY)
async def match(request: Request, node: NodeDep, _caller: PlatformCaller) -> dict[str, Any]:
    """Match content (multipart `file`, or the body itself), a URL, or signals against every
    mirrored hub bank and private bank; applies the rules and records every match."""
    spooled, name, signals = await _content(request, node)
    if spooled is None:
        assert signals is not None
        return await run_in_threadpool(node.match, signals, name)
    with spooled:
        content_type, signals = await run_in_threadpool(_hash, node, spooled, True)
        response = await run_in_threadpool(node.match, signals, name)
        # Only uploads that a rule sends to review are kept (encrypted), for the preview.
        if match_content.wanted(response):
            await run_in_threadpool(match_content.keep, request.app.state.moderation.ctx,
                                    Path(spooled.name), content_type, response)
    return response


@router.post("/v1/hash", response_model=HashOut, openapi_extra=_BODY)
async def hash_content(request: Request, node: NodeDep, _caller: PlatformCaller) -> dict[str, Any]:
    """The signals of content (multipart `file`, the body itself, or a URL); nothing is
    matched or recorded."""
    spooled, _, signals = await _content(request, node)
    if spooled is None:
        raise NodeError("send content or a URL to hash, not signals", 422)
    with spooled:
        content_type, signals = await run_in_threadpool(_hash, node, spooled, False)
    return {"content_type": content_type,
            "signals": {n: get_signal_type(n).to_json(v) for n, v in signals.items()}}
