"""Signal types: the fingerprint algorithms Cordon computes, shares and matches.

Use the registry below, never a signal module directly, so that extensions registered under
the `cordon.signals` entry-point group are first-class.
"""

from __future__ import annotations

import importlib
from functools import cache
from importlib.metadata import entry_points

from cordon.content import ContentType
from cordon.errors import CordonError
from cordon.signals.base import Comparison, HashOptions, SignalType

__all__ = [
    "Comparison",
    "HashOptions",
    "SignalType",
    "all_signal_types",
    "default_signal_types",
    "get_signal_type",
    "matching_signal_types",
    "parse_signal_names",
]

# Order matters for display: perceptual signals first, then exact digests.
_BUILTIN_MODULES = (
    "cordon.signals.pdq",
    "cordon.signals.pdq_robust",
    "cordon.signals.vpdq",
    "cordon.signals.vpdq_robust",
    "cordon.signals.tmk",
    "cordon.signals.md5",
    "cordon.signals.sha256",
)


@cache
def _registry() -> dict[str, SignalType]:
    registry: dict[str, SignalType] = {}
    modules = [importlib.import_module(name) for name in _BUILTIN_MODULES]
    for module in modules:
        signal: SignalType = module.SIGNAL
        registry[signal.name] = signal
    for point in entry_points(group="cordon.signals"):
        signal = point.load()
        if signal.name in registry:
            raise CordonError(f"signal type {signal.name!r} is registered twice")
        registry[signal.name] = signal
    return registry


def all_signal_types() -> list[SignalType]:
    return list(_registry().values())


def get_signal_type(name: str) -> SignalType:
    try:
        return _registry()[name.strip().lower()]
    except KeyError:
        known = ", ".join(_registry())
        raise CordonError(f"unknown signal type {name!r} (known: {known})") from None


def parse_signal_names(text: str) -> list[SignalType]:
    """Parse a comma-separated list such as 'pdq,md5'."""
    names = [part for part in (p.strip() for p in text.split(",")) if part]
    if not names:
        raise CordonError("no signal type given")
    return [get_signal_type(name) for name in dict.fromkeys(names)]


def default_signal_types(content_type: ContentType) -> list[SignalType]:
    """What `cordon hash` computes when no signal is named."""
    return [s for s in all_signal_types() if content_type in s.default_for]


def matching_signal_types(content_type: ContentType) -> list[SignalType]:
    """What banking and matching compute when no signal is named."""
    return [s for s in all_signal_types() if s.computed_for_matching(content_type)]
