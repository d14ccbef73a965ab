"""Multipart report bodies (the public form and API clients alike): the `file` part spooled
to disk under the node's upload limit (`cordon.node.upload`), the other fields collected as
short text."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import IO

from python_multipart.multipart import parse_options_header

from cordon.node.service import NodeError
from cordon.node.upload import FILE_FIELD, _FilePart, drive_multipart

FIELD_LIMIT = 16 * 1024
MAX_FIELDS = 40


class _ReportParts(_FilePart):
    """The file part as the node's upload parsing takes it, plus the text fields."""

    def __init__(self, limit: int) -> None:
        super().__init__(limit)
        self.fields: list[tuple[str, str]] = []
        self._current: str | None = None
        self._text = bytearray()

    def _headers_done(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        name = options.get(b"name", b"").decode("utf-8", "replace")
        if name == FILE_FIELD:
            if not options.get(b"filename") and self.file is None:
                # A file input left empty by a browser: no content.
                self._current = None
            super()._headers_done()
            return
        if len(self.fields) >= MAX_FIELDS:
            self.error = NodeError("too many form fields", 422)
            return
        self._current = name
        self._text = bytearray()

    def _data(self, data: bytes, start: int, end: int) -> None:
        if self._current is not None and not self._writing:
            self._text += data[start:end]
            if len(self._text) > FIELD_LIMIT:
                self.error = NodeError(f"the form field {self._current[:50]!r} is longer than "
                                       f"{FIELD_LIMIT} bytes", 413)
            return
        super()._data(data, start, end)

    def _end(self) -> None:
        if self._current is not None and not self._writing:
            self.fields.append((self._current, self._text.decode("utf-8", "replace")))
            self._current = None
        super()._end()


async def parse_report_form(content_type: str, chunks: AsyncIterator[bytes], limit: int
                            ) -> tuple[list[tuple[str, str]], IO[bytes] | None, str | None]:
    """(text fields, spooled file or None, file name)."""
    parts = _ReportParts(limit)
    await drive_multipart(content_type, chunks, parts,
                          limit + MAX_FIELDS * FIELD_LIMIT + (1 << 16), limit)
    if parts.file is not None and parts.size == 0:
        parts.file.close()
        return parts.fields, None, None
    if parts.file is not None:
        parts.file.flush()
    return parts.fields, parts.file, parts.filename
