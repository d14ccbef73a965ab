"""Shared implementation of the exact cryptographic-digest signal types."""

from __future__ import annotations

import hashlib
from typing import ClassVar

from cordon.content import ContentType
from cordon.errors import SignalFormatError
from cordon.signals.base import Comparison, SignalType
from cordon.signals.pdq import HEX_DIGITS


class _Digest:
    def __init__(self, algorithm: str) -> None:
        self._hash = hashlib.new(algorithm)

    def update(self, chunk: bytes) -> None:
        self._hash.update(chunk)

    def finish(self) -> str:
        return self._hash.hexdigest()


class DigestSignal(SignalType[str]):
    """An exact digest of the file's bytes; matches only byte-identical copies."""

    algorithm: ClassVar[str]
    hex_length: ClassVar[int]
    content_types = frozenset(ContentType)
    default_for = frozenset(ContentType)
    default_threshold = 0

    def stream_hasher(self) -> _Digest:
        return _Digest(self.algorithm)

    def format(self, value: str) -> str:
        return value

    def parse(self, text: str) -> str:
        if not isinstance(text, str):
            raise SignalFormatError(f"a {self.name} hash must be a string")
        value = text.strip().lower()
        if len(value) != self.hex_length:
            raise SignalFormatError(
                f"a {self.name} hash has {self.hex_length} hex characters, got {len(value)}"
            )
        if value.strip(HEX_DIGITS):
            raise SignalFormatError(f"a {self.name} hash may only hold hex characters")
        return value

    def compare(self, a: str, b: str, threshold: float | None = None) -> Comparison:
        same = a == b
        return Comparison(matched=same, distance=0 if same else 1)

    def make_index(self, threshold: float | None = None):  # type: ignore[no-untyped-def]
        from cordon.index.exact import ExactIndex

        return ExactIndex()
