"""Frame-level lookup for live streams: one sampled frame's PDQ against every banked video
frame (vPDQ) and banked image (PDQ).

A live frame has no video around it yet, so the coverage matching of whole videos does not
apply: each frame is looked up on its own, and `cordon.live.alerts` decides from a run of
frame hits whether a stream really shows banked content.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cordon.index.pdq import PdqIndex, hashes_to_words
from cordon.index.vpdq import VpdqIndex
from cordon.signals.pdq import PdqHash
from cordon.signals.vpdq import FRAME_DISTANCE_THRESHOLD, QUALITY_THRESHOLD, VpdqHash

if TYPE_CHECKING:
    from cordon.banks import Banks

# Banked values of these signal types are looked up per live frame.
SIGNAL_TYPES = ("vpdq", "pdq")


@dataclass(frozen=True, slots=True)
class FrameHit:
    entry_id: int
    signal_type: str
    distance: int
    # Time of the banked frame in its video; None for a banked image.
    ref_seconds: float | None
    # Sampling period of the banked video (seconds), 0 for an image.
    ref_period: float


class LiveIndex:
    """Banked PDQ images and vPDQ frames, queried one live frame at a time.

    Read-only once built, so any number of stream workers may query it at once.
    """

    def __init__(self, threshold: int = FRAME_DISTANCE_THRESHOLD) -> None:
        self.threshold = int(threshold)
        self._videos = VpdqIndex(frame_threshold=self.threshold)
        self._images = PdqIndex(threshold=self.threshold)
        self._periods: dict[int, float] = {}

    def add_videos(self, items: Iterable[tuple[int, VpdqHash]]) -> None:
        pairs = list(items)
        self._videos.add_many(pairs)
        for key, _ in pairs:
            self._periods[key] = self._videos.period_of(key)

    def add_images(self, items: Iterable[tuple[int, PdqHash]]) -> None:
        # Weak banked images would match any flat frame (a black screen between scenes).
        self._images.add_many(
            (key, value) for key, value in items
            if value.quality is None or value.quality >= QUALITY_THRESHOLD
        )

    @property
    def video_frames(self) -> int:
        return self._videos.frame_count

    @property
    def images(self) -> int:
        return len(self._images)

    def __len__(self) -> int:
        return len(self._videos) + len(self._images)

    def query(self, frames: Sequence[PdqHash]) -> list[list[FrameHit]]:
        """Hits of each frame (quality is the caller's business), closest first."""
        if not frames:
            return []
        words = hashes_to_words([f.hex for f in frames])
        found: list[list[FrameHit]] = [[] for _ in frames]
        if self._videos.frame_count:
            for hits, (keys, seconds, dist) in zip(
                found, self._videos.query_frames(words, self.threshold), strict=True
            ):
                hits.extend(
                    FrameHit(k, "vpdq", d, s, self._periods.get(k, 0.0))
                    for k, s, d in zip(keys.tolist(), seconds.tolist(), dist.tolist(), strict=True)
                )
        if len(self._images):
            for hits, (keys, dist) in zip(
                found, self._images.query_arrays(words, self.threshold), strict=True
            ):
                hits.extend(
                    FrameHit(k, "pdq", d, None, 0.0)
                    for k, d in zip(keys.tolist(), dist.tolist(), strict=True)
                )
        for hits in found:
            hits.sort(key=lambda h: (h.distance, h.entry_id))
        return found


def index_from_banks(banks: Banks, bank_names: Sequence[str] | None = None) -> LiveIndex:
    """Every live vPDQ and PDQ signal of the given banks (all banks when None)."""
    index = LiveIndex()
    names = list(bank_names) if bank_names else None
    index.add_videos(banks.live_signals("vpdq", names))
    index.add_images(banks.live_signals("pdq", names))
    return index
