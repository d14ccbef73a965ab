"""Errors that carry one sentence meant for the person running Cordon.

Anything raised as a CordonError is shown as-is (CLI: one line on stderr, HTTP: a 4xx body);
anything else is a bug.
"""


class CordonError(Exception):
    """A failure whose message is a complete, user-facing sentence."""


class MediaError(CordonError):
    """The content could not be decoded or breaks a safety limit."""


class SignalFormatError(CordonError, ValueError):
    """A serialized signal (hash string, JSON object) is malformed."""
