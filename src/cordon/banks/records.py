"""Records read from hash lists, and their validation into store drafts.

Every signal value goes through its signal type's parser, so nothing malformed reaches the
store whatever the input format.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from cordon.content import ContentType
from cordon.errors import CordonError, SignalFormatError
from cordon.signals import SignalType, get_signal_type
from cordon.store.models import BANK_NAME_MAX, LABEL_MAX
from cordon.store.repository import EntryDraft, SignalDraft

_BANK_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
NOTE_MAX = 10_000
SOURCE_MAX = 2_000


@dataclass
class RawRecord:
    """One record as a format reader found it, before validation."""

    location: str
    # (signal type name, value as the format carries it: compact string or JSON form)
    signals: list[tuple[str, Any]]
    labels: list[str] = field(default_factory=list)
    content_type: str | None = None
    source: str | None = None
    note: str | None = None
    withdrawn: bool = False
    # Things worth telling but not worth skipping the record for (e.g. unknown fields).
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Problem:
    location: str
    message: str
    skipped: bool = True

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


def check_bank_name(name: str) -> str:
    if not _BANK_NAME.fullmatch(name) or len(name) > BANK_NAME_MAX:
        raise CordonError(
            f"invalid bank name {name!r}: use letters, digits, '.', '_' or '-' "
            f"(up to {BANK_NAME_MAX} characters, starting with a letter or digit)"
        )
    return name


def clean_label(label: Any) -> str:
    if not isinstance(label, str):
        raise CordonError("a label must be a string")
    text = label.strip()
    if not text:
        raise CordonError("a label cannot be empty")
    if len(text) > LABEL_MAX:
        raise CordonError(f"a label has at most {LABEL_MAX} characters")
    if any(unicodedata.category(ch).startswith("C") for ch in text):
        raise CordonError(f"the label {text!r} holds control characters")
    return text


def _clean_text(value: Any, what: str, limit: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise CordonError(f"the {what} must be a string")
    text = str(value).strip()
    if len(text) > limit:
        raise CordonError(f"the {what} has at most {limit} characters")
    return text or None


class SignalCache:
    """Signal types by name, resolved once per import rather than once per line."""

    def __init__(self) -> None:
        self._types: dict[str, SignalType] = {}
        self._implied: dict[tuple[str, ...], str | None] = {}

    def implied_content_type(self, types: list[SignalType]) -> str | None:
        key = tuple(t.name for t in types)
        if key not in self._implied:
            self._implied[key] = _implied_content_type(types)
        return self._implied[key]

    def get(self, name: str) -> SignalType:
        signal = self._types.get(name)
        if signal is None:
            signal = self._types[name] = get_signal_type(name)
        return signal


def signal_draft(signal: SignalType, value: Any) -> SignalDraft:
    """Validate a value given in compact or JSON form, or already parsed."""
    if isinstance(value, str):
        # The compact form carries nothing beyond itself, so there is no detail to keep.
        return SignalDraft.of(signal.name, signal.format(signal.parse(value)))
    parsed = signal.from_json(value) if isinstance(value, dict) else value
    extra = {k: v for k, v in signal.to_json(parsed).items() if k != "hash" and v is not None}
    return SignalDraft.of(signal.name, signal.format(parsed), extra or None)


def to_draft(record: RawRecord, signals: SignalCache) -> EntryDraft:
    """Validate a record; raises CordonError with the reason when it must be skipped."""
    if not record.signals:
        raise CordonError("no signal")
    drafts: list[SignalDraft] = []
    types: list[SignalType] = []
    for name, value in record.signals:
        if not isinstance(name, str):
            raise CordonError("a signal type name must be a string")
        signal = signals.get(name)
        try:
            drafts.append(signal_draft(signal, value))
        except SignalFormatError:
            raise
        except (TypeError, ValueError) as exc:
            raise SignalFormatError(f"invalid {signal.name} value ({exc})") from None
        types.append(signal)
    content_type = record.content_type
    if content_type is not None:
        try:
            content_type = ContentType(str(content_type).strip().lower()).value
        except ValueError:
            known = ", ".join(c.value for c in ContentType)
            raise CordonError(f"unknown content type {content_type!r} (known: {known})") from None
    else:
        content_type = signals.implied_content_type(types)
    return EntryDraft(
        signals=drafts,
        labels={clean_label(label) for label in record.labels},
        content_type=content_type,
        source=_clean_text(record.source, "source", SOURCE_MAX),
        note=_clean_text(record.note, "note", NOTE_MAX),
        withdrawn=record.withdrawn,
    )


def _implied_content_type(types: Iterable[SignalType]) -> str | None:
    """The content type when the signals leave only one (a PDQ hash is of an image)."""
    common: set[ContentType] | None = None
    for signal in types:
        common = set(signal.content_types) if common is None else common & signal.content_types
    if common is not None and len(common) == 1:
        return next(iter(common)).value
    return None
