"""Computing every requested signal of one file in a single pass over its bytes and pixels."""

from __future__ import annotations

import errno
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cordon.content import ContentType
from cordon.errors import CordonError, MediaError
from cordon.media.image import decode_rgb, is_animated
from cordon.media.sniff import SNIFF_BYTES, sniff_content_type
from cordon.media.video import VideoDecoder
from cordon.signals import (
    HashOptions,
    SignalType,
    default_signal_types,
    matching_signal_types,
)

_CHUNK = 1 << 20

# Either fixed signal types, or a choice made once the content type is known.
SignalSelection = Sequence[SignalType] | Callable[[ContentType], Sequence[SignalType]] | None
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class MatchingSelection:
    """The matching signals of each content type, limited to `names` when given (e.g. to
    the signal types that banks hold).

    A class rather than a closure so that it crosses process boundaries (`--jobs`).
    """

    names: frozenset[str] | None = None

    def __call__(self, content_type: ContentType) -> list[SignalType]:
        chosen = matching_signal_types(content_type)
        return chosen if self.names is None else [s for s in chosen if s.name in self.names]


@dataclass
class HashResult:
    path: str
    content_type: ContentType | None = None
    signals: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_json(self) -> dict[str, Any]:
        from cordon.signals import get_signal_type

        return {
            "path": self.path,
            "content_type": self.content_type.value if self.content_type else None,
            "signals": {
                name: get_signal_type(name).to_json(value) for name, value in self.signals.items()
            },
            "error": self.error,
        }


def _read_error(exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "symlink loop"
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, FileNotFoundError):
        return "no such file"
    if isinstance(exc, IsADirectoryError):
        return "is a directory"
    return f"cannot read the file: {(exc.strerror or str(exc)).lower()}"


def detect_content_type(path: Path, head: bytes, options: HashOptions) -> ContentType:
    content_type, mime = sniff_content_type(head)
    if content_type is ContentType.IMAGE and mime in ("image/gif", "image/webp", "image/png"):
        try:
            if is_animated(path, options.limits):
                return ContentType.VIDEO
        except MediaError:
            pass  # the image decoder reports the problem with a better message
    return content_type


def hash_file(
    path: Path,
    signals: SignalSelection = None,
    options: HashOptions | None = None,
    display: str | None = None,
) -> HashResult:
    """Hash one file. Failures come back in `HashResult.error`, never as exceptions.

    `signals` is None for the default signals of the content type, a list of signal types
    (an error when none applies), or a function of the content type (which may choose none).
    """
    options = options or HashOptions()
    result = HashResult(path=display if display is not None else str(path))
    try:
        _hash_into(result, path, signals, options)
    except MediaError as exc:
        result.signals = {}
        result.error = str(exc)
    except CordonError as exc:
        result.signals = {}
        result.error = str(exc)
    except OSError as exc:
        result.signals = {}
        result.error = _read_error(exc)
    except MemoryError:
        result.signals = {}
        result.error = "the file needs more memory to decode than is available"
    except Exception as exc:  # a decoder bug must not take the rest of a batch down
        logger.exception("unexpected failure while hashing %s", result.path)
        result.signals = {}
        result.error = f"unexpected failure while decoding ({exc.__class__.__name__}: {exc})"
    return result


def _hash_into(
    result: HashResult,
    path: Path,
    requested: SignalSelection,
    options: HashOptions,
) -> None:
    with open(path, "rb") as handle:
        head = handle.read(SNIFF_BYTES)
        if not head:
            raise MediaError("the file is empty (0 bytes)")
        content_type = detect_content_type(path, head, options)
        result.content_type = content_type
        if requested is None:
            chosen = default_signal_types(content_type)
        elif callable(requested):
            chosen = [s for s in requested(content_type) if content_type in s.content_types]
        else:
            chosen = [s for s in requested if content_type in s.content_types]
            if not chosen:
                names = ", ".join(s.name for s in requested)
                raise CordonError(
                    f"none of the requested signals ({names}) apply to {content_type}"
                )
        stream_hashers = {s.name: h for s in chosen if (h := s.stream_hasher()) is not None}
        if stream_hashers:
            chunk = head
            while chunk:
                for hasher in stream_hashers.values():
                    hasher.update(chunk)
                chunk = handle.read(_CHUNK)
    values: dict[str, Any] = {}
    content_signals = [s for s in chosen if s.name not in stream_hashers]
    if content_signals:
        if content_type is ContentType.IMAGE:
            rgb = decode_rgb(path, options.limits)
            for signal in content_signals:
                values[signal.name] = signal.hash_image(rgb, options)
        elif content_type is ContentType.VIDEO:
            values.update(_hash_video(path, content_signals, options))
    for name, hasher in stream_hashers.items():
        values[name] = hasher.finish()
    # Keep the registry's order so output is stable whatever the request order.
    result.signals = {s.name: values[s.name] for s in chosen if s.name in values}


def _hash_video(path: Path, signals: Sequence[SignalType], options: HashOptions) -> dict[str, Any]:
    with VideoDecoder(path, options.limits) as decoder:
        consumers = {s.name: s.video_consumer(decoder.info, options) for s in signals}
        for frame in decoder.frames():
            for consumer in consumers.values():
                consumer.accept(frame)
        return {name: consumer.finish() for name, consumer in consumers.items()}
