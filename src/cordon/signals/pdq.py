"""PDQ: Meta's 256-bit perceptual image hash, the one other platforms compute and share.

Images are hashed by `cordon.signals.pdq_numpy`, which evaluates the reference's blurred 64x64
grid only at its sample points (an order of magnitude less work than filtering every pixel).
Its bits are the reference's unless the two middle DCT coefficients are so close that float
rounding could swap them; those images, and small ones (where the reference C++ is cheaper
than NumPy's per-call overhead), are hashed by the `pdqhash` bindings of the reference C++
itself, as are the dihedral variants."""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np
import pdqhash

from cordon.content import ContentType
from cordon.errors import SignalFormatError
from cordon.signals import pdq_numpy
from cordon.signals.base import Comparison, HashOptions, SignalType

HEX_DIGITS = "0123456789abcdef"

# Below this quality the image is too flat for the hash to mean much (PDQ's own guidance).
WEAK_QUALITY = 50
# PDQ needs at least a few pixels per output cell; smaller inputs are upscaled first.
_MIN_SIDE = 5
# Below this many pixels the reference C++ filters the whole image faster than NumPy sets up
# its 128 band products.
_NUMPY_MIN_PIXELS = 32_768


@dataclass(frozen=True, slots=True)
class PdqHash:
    hex: str
    quality: int | None = None

    @property
    def bits(self) -> int:
        return int(self.hex, 16)

    def to_bytes(self) -> bytes:
        return bytes.fromhex(self.hex)


def bits_to_hex(bits: np.ndarray) -> str:
    """The reference hex form: bit 0 of the vector is the most significant bit."""
    return np.packbits(np.asarray(bits, dtype=np.uint8)).tobytes().hex()


def hamming(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


def _prepare(rgb: np.ndarray) -> np.ndarray:
    height, width = rgb.shape[:2]
    if min(height, width) < _MIN_SIDE:
        # Tiny images (icons, 1-pixel spacers) crash or mislead the filter; repeat pixels.
        factor = -(-_MIN_SIDE // max(1, min(height, width)))
        rgb = np.repeat(np.repeat(rgb, factor, axis=0), factor, axis=1)
    return np.ascontiguousarray(rgb, dtype=np.uint8)


# The decoder checks a reduced decode's hash for stability before the signal hashes the same
# array again; remembering the last read-only array hashed (by identity, weakly) saves that
# second PDQ pass, which costs as much as decoding a JPEG at reduced scale.
_last_hashed: tuple[weakref.ref[np.ndarray], PdqHash] | None = None


def hash_rgb(rgb: np.ndarray) -> PdqHash:
    global _last_hashed
    last = _last_hashed
    if last is not None and last[0]() is rgb:
        return last[1]
    value = _compute(_prepare(rgb))
    if not rgb.flags.writeable:
        _last_hashed = (weakref.ref(rgb), value)
    return value


def _compute(rgb: np.ndarray) -> PdqHash:
    if rgb.shape[0] * rgb.shape[1] >= _NUMPY_MIN_PIXELS:
        packed, quality, margin = pdq_numpy.compute(rgb)
        if margin >= pdq_numpy.SAFE_MARGIN:
            return PdqHash(packed.tobytes().hex(), quality)
    bits, quality = pdqhash.compute(rgb)
    return PdqHash(bits_to_hex(bits), int(quality))


def hash_rgb_dihedral(rgb: np.ndarray) -> list[PdqHash]:
    """The hashes of the 8 rotations/flips of the image, in pdqhash's order
    (original, rot90, rot180, rot270, flipx, flipy, flip+1, flip-1)."""
    vectors, quality = pdqhash.compute_dihedral(_prepare(rgb))
    return [PdqHash(bits_to_hex(v), int(quality)) for v in vectors]


class PdqSignal(SignalType[PdqHash]):
    name = "pdq"
    description = "PDQ perceptual image hash (256 bits, Hamming distance)"
    content_types = frozenset({ContentType.IMAGE})
    default_for = frozenset({ContentType.IMAGE})
    default_threshold = 31

    def hash_image(self, rgb: np.ndarray, options: HashOptions) -> PdqHash:
        return hash_rgb(rgb)

    def format(self, value: PdqHash) -> str:
        return value.hex

    def parse(self, text: str) -> PdqHash:
        if not isinstance(text, str):
            raise SignalFormatError("a pdq hash must be a string of 64 hex characters")
        value = text.strip().lower()
        if len(value) != 64:
            raise SignalFormatError(f"a pdq hash has 64 hex characters, got {len(value)}")
        if value.strip(HEX_DIGITS):  # faster than a regex on million-line imports
            raise SignalFormatError("a pdq hash may only hold hex characters")
        return PdqHash(value)

    def to_json(self, value: PdqHash) -> dict[str, Any]:
        return {"hash": value.hex, "quality": value.quality}

    def from_json(self, obj: Any) -> PdqHash:
        value = super().from_json(obj)
        if isinstance(obj, dict) and obj.get("quality") is not None:
            quality = obj["quality"]
            if not isinstance(quality, int) or isinstance(quality, bool) or not 0 <= quality <= 100:
                raise SignalFormatError("a pdq quality is a whole number from 0 to 100")
            value = PdqHash(value.hex, quality)
        return value

    def summary(self, value: PdqHash) -> str:
        quality = "?" if value.quality is None else value.quality
        weak = " (weak)" if self.weak(value) else ""
        return f"{value.hex}  quality={quality}{weak}"

    def weak(self, value: PdqHash) -> bool:
        return value.quality is not None and value.quality < WEAK_QUALITY

    def compare(self, a: PdqHash, b: PdqHash, threshold: float | None = None) -> Comparison:
        distance = (a.bits ^ b.bits).bit_count()
        return Comparison(matched=distance <= self.threshold(threshold), distance=distance)

    def make_index(self, threshold: float | None = None):  # type: ignore[no-untyped-def]
        from cordon.index.pdq import PdqIndex

        return PdqIndex(threshold=int(self.threshold(threshold)))


SIGNAL = PdqSignal()
