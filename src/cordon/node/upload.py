"""Request bodies to temporary files, counted as they arrive: an upload is never held whole
in memory, and one over the limit is refused (413) as soon as it passes it."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from typing import IO, Protocol

from python_multipart.multipart import MultipartParser, parse_options_header

from cordon.node.service import NodeError

FILE_FIELD = "file"


class TooLarge(NodeError):
    status = 413


def _spool() -> IO[bytes]:
    return tempfile.NamedTemporaryFile(prefix="cordon-upload-", delete=True)


async def read_limited(chunks: AsyncIterator[bytes], limit: int) -> bytes:
    """A small body (JSON) read whole, refused once it passes `limit` bytes."""
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"the request body is larger than {limit} bytes")
        parts.append(chunk)
    return b"".join(parts)


async def spool_raw(chunks: AsyncIterator[bytes], limit: int) -> IO[bytes]:
    """The body itself is the content (e.g. `Content-Type: image/jpeg`)."""
    out = _spool()
    size = 0
    try:
        async for chunk in chunks:
            size += len(chunk)
            if size > limit:
                raise TooLarge(f"the upload is larger than {limit} bytes")
            out.write(chunk)
        if size == 0:
            raise NodeError("the upload is empty", 422)
        out.flush()
        return out
    except BaseException:
        out.close()
        raise


class _FilePart:
    """Collects the `file` part of a multipart body into a temporary file."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.file: IO[bytes] | None = None
        self.filename: str | None = None
        self.size = 0
        self._field = b""
        self._value = b""
        self._headers: dict[bytes, bytes] = {}
        self._writing = False
        self.error: NodeError | None = None

    def callbacks(self) -> dict[str, object]:
        return {
            "on_part_begin": self._begin, "on_header_field": self._header_field,
            "on_header_value": self._header_value, "on_header_end": self._header_end,
            "on_headers_finished": self._headers_done, "on_part_data": self._data,
            "on_part_end": self._end,
        }

    def _begin(self) -> None:
        self._headers = {}
        self._writing = False

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._field.lower()] = self._value
        self._field, self._value = b"", b""

    def _headers_done(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        if options.get(b"name", b"").decode("latin-1") != FILE_FIELD:
            return  # other fields are ignored
        if self.file is not None:
            self.error = NodeError("send one file per request", 422)
            return
        filename = options.get(b"filename")
        self.filename = filename.decode("utf-8", "replace")[:500] if filename else None
        self.file = _spool()
        self._writing = True

    def _data(self, data: bytes, start: int, end: int) -> None:
        if not self._writing or self.file is None or self.error is not None:
            return
        self.size += end - start
        if self.size > self.limit:
            self.error = TooLarge(f"the upload is larger than {self.limit} bytes")
            return
        self.file.write(data[start:end])

    def _end(self) -> None:
        self._writing = False


class MultipartSink(Protocol):
    """What `drive_multipart` feeds: the parser's callbacks, an error a callback recorded, and
    the spooled file (closed when the body fails)."""

    error: NodeError | None
    file: IO[bytes] | None

    def callbacks(self) -> dict[str, object]: ...


async def drive_multipart(content_type: str, chunks: AsyncIterator[bytes], sink: MultipartSink,
                          body_limit: int, limit: int) -> None:
    """Parse a multipart/form-data body into `sink` as it arrives. The whole body is bounded by
    `body_limit`, so that fields other than the file cannot carry unbounded data; past it, or
    on a malformed body, the spooled file is closed and a NodeError raised."""
    _, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if not boundary:
        raise NodeError("a multipart body needs a boundary", 400)
    parser = MultipartParser(boundary, sink.callbacks())  # type: ignore[arg-type]
    received = 0
    try:
        async for chunk in chunks:
            received += len(chunk)
            if received > body_limit:
                raise TooLarge(f"the upload is larger than {limit} bytes")
            parser.write(chunk)
            if sink.error is not None:
                raise sink.error
        parser.finalize()
    except NodeError:
        if sink.file is not None:
            sink.file.close()
        raise
    except Exception as exc:  # the parser's own errors: a malformed body
        if sink.file is not None:
            sink.file.close()
        raise NodeError(f"malformed multipart body ({exc.__class__.__name__})", 400) from None


async def spool_multipart(content_type: str, chunks: AsyncIterator[bytes],
                          limit: int) -> tuple[IO[bytes], str | None]:
    """The `file` part of a multipart/form-data body: (temporary file, its file name)."""
    part = _FilePart(limit)
    await drive_multipart(content_type, chunks, part, limit + (1 << 16), limit)
    if part.file is None:
        raise NodeError(f"the multipart body has no {FILE_FIELD!r} field", 422)
    if part.size == 0:
        part.file.close()
        raise NodeError("the uploaded file is empty", 422)
    part.file.flush()
    return part.file, part.filename
