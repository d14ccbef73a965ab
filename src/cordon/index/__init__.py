"""In-memory match indexes, one kind per signal type, reached through `SignalType.make_index`."""

from cordon.index.base import IndexMatch, SignalIndex

__all__ = ["IndexMatch", "SignalIndex"]
