"""Placeholder: being replaced by the real vpdq signal type in this change."""

from cordon.content import ContentType
from cordon.signals.base import Comparison, SignalType


class _Pending(SignalType[str]):
    name = "vpdq"
    description = "vpdq (not implemented yet)"
    content_types = frozenset({ContentType.VIDEO})
    default_for: frozenset[ContentType] = frozenset()
    default_threshold = 0

    def format(self, value: str) -> str:
        return value

    def parse(self, text: str) -> str:
        raise NotImplementedError

    def compare(self, a: str, b: str, threshold: float | None = None) -> Comparison:
        raise NotImplementedError


SIGNAL = _Pending()
