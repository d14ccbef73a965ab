"""The signal-type interface: everything the rest of Cordon knows about a fingerprint.

A signal type (in the sense of python-threatexchange) is one module that declares its name,
the content it applies to, how to compute it from decoded media, how to serialize and parse
it, how to compare two values, its default threshold and its match index. Nothing outside
`cordon.signals` branches on a signal type's name.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar

import numpy as np

from cordon.content import ContentType
from cordon.errors import SignalFormatError
from cordon.media.limits import MediaLimits

if TYPE_CHECKING:
    from cordon.index.base import SignalIndex
    from cordon.media.video import VideoFrame, VideoInfo

V = TypeVar("V")


@dataclass(frozen=True)
class HashOptions:
    """How media is sampled while hashing."""

    # Frames per second sampled by frame-level video signals; 0 hashes every frame.
    fps: float = 1.0
    # Frames are resized to (width, height) before frame-level hashing when set.
    frame_size: tuple[int, int] | None = None
    limits: MediaLimits = field(default_factory=MediaLimits)


@dataclass(frozen=True)
class Comparison:
    """The outcome of comparing two values of one signal type."""

    matched: bool
    # Smaller is closer; exact types use 0/1, similarity-based types use 1 - similarity.
    distance: float
    # Type-specific evidence, e.g. TMK's level-1/level-2 scores or vPDQ's coverage.
    detail: Mapping[str, Any] = field(default_factory=dict)


class StreamHasher(Protocol[V]):
    """Digests a file's raw bytes, chunk by chunk."""

    def update(self, chunk: bytes) -> None: ...

    def finish(self) -> V: ...


class FrameConsumer(Protocol[V]):
    """Receives every decoded frame of one video, in order, and builds one value."""

    def accept(self, frame: VideoFrame) -> None: ...

    def finish(self) -> V: ...


class SignalType(ABC, Generic[V]):
    """One fingerprint algorithm. Subclasses are stateless singletons."""

    name: ClassVar[str]
    description: ClassVar[str]
    # Content this signal can be computed from.
    content_types: ClassVar[frozenset[ContentType]]
    # Content for which `cordon hash` computes it without being asked.
    default_for: ClassVar[frozenset[ContentType]] = frozenset()
    # Content for which banks and matching compute it without being asked: the standard
    # signals plus Cordon's robustness signals, which catch edited copies.
    matching_default_for: ClassVar[frozenset[ContentType] | None] = None
    # Threshold on `Comparison.distance` (inclusive) below which two values match.
    default_threshold: ClassVar[float]

    # --- computing -----------------------------------------------------------------------
    def stream_hasher(self) -> StreamHasher[V] | None:
        """A hasher over the raw bytes, for signals of the file rather than its pixels."""
        return None

    def hash_image(self, rgb: np.ndarray, options: HashOptions) -> V:
        """Compute from an upright HxWx3 uint8 image."""
        raise NotImplementedError(f"{self.name} is not computed from images")

    def video_consumer(self, info: VideoInfo, options: HashOptions) -> FrameConsumer[V]:
        """A consumer of the frames of one video."""
        raise NotImplementedError(f"{self.name} is not computed from videos")

    # --- serializing ---------------------------------------------------------------------
    @abstractmethod
    def format(self, value: V) -> str:
        """The compact one-line string form (hash lists, hub entries, `signal_type hash`)."""

    @abstractmethod
    def parse(self, text: str) -> V:
        """Parse and validate the compact form; raise SignalFormatError with a reason."""

    def to_json(self, value: V) -> dict[str, Any]:
        """The JSON object printed by `cordon hash --format json`."""
        return {"hash": self.format(value)}

    def from_json(self, obj: Any) -> V:
        """Parse the JSON form (or, for convenience, the compact string form)."""
        if isinstance(obj, str):
            return self.parse(obj)
        if isinstance(obj, Mapping) and isinstance(obj.get("hash"), str):
            return self.parse(obj["hash"])
        raise SignalFormatError(f'a {self.name} signal must be a string or {{"hash": ...}}')

    def summary(self, value: V) -> str:
        """One readable line for the text output."""
        return self.format(value)

    def reference_file(self, value: V) -> tuple[str, bytes] | None:
        """(suffix, bytes) of the reference tool's file format, if the type has one."""
        return None

    def weak(self, value: V) -> bool:
        """True when the value is too uninformative to act on alone (e.g. low quality)."""
        return False

    # --- comparing -----------------------------------------------------------------------
    @abstractmethod
    def compare(self, a: V, b: V, threshold: float | None = None) -> Comparison:
        """Compare two values at `threshold` (the default threshold when None)."""

    def make_index(self, threshold: float | None = None) -> SignalIndex[V]:
        """An empty match index for this type at `threshold`."""
        raise NotImplementedError(f"{self.name} has no index yet")

    def computed_for_matching(self, content_type: ContentType) -> bool:
        chosen = self.matching_default_for
        return content_type in (self.default_for if chosen is None else chosen)

    def threshold(self, threshold: float | None) -> float:
        return self.default_threshold if threshold is None else threshold

    def __repr__(self) -> str:
        return f"<signal type {self.name}>"
