"""pdq-robust: PDQ hashes of several views of an image plus ORB keypoints, to catch edited copies.

Plain PDQ describes the whole frame, so it survives re-encoding and colour changes but not
geometry: a 5% crop, a border, a caption bar or a mirror moves most of its 256 bits. This signal
keeps plain PDQ untouched and adds, for each image:

- views of the picture after flat borders are trimmed (padding, letterbox, pillarbox): the whole
  picture, centre crops, crops that drop one edge, and the middle band (where captions and meme
  text are not), each hashed with the reference PDQ code on a 64x64 area-averaged copy;
- views used only when querying: the 7 other rotations/flips of the whole picture, the four
  quadrants (the picture as one tile of a collage) and the textured block of a screenshot;
- up to 160 ORB keypoints (position + 256-bit descriptor), so that a candidate found at a loose
  hash distance is confirmed by geometry (a consistent affine transform between keypoints)
  rather than by a looser threshold alone.

All views are computed from one small greyscale working copy, which keeps the cost to a few
milliseconds per image whatever its size.
"""

from __future__ import annotations

import base64
import binascii
import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import cv2
import numpy as np

from cordon.content import ContentType
from cordon.errors import SignalFormatError
from cordon.media.normalize import Box, border_box, content_box, working_copy
from cordon.signals.base import Comparison, HashOptions, SignalType

# Longer side of the greyscale working copy that every view and keypoint comes from.
WORK_SIDE = 320
# PDQ of a 64x64 copy: PDQ's own filter reduces to 64x64 anyway, and hashing 4k pixels
# instead of a megapixel is what makes two dozen hashes affordable.
HASH_SIDE = 64
MAX_KEYPOINTS = 160
_FORMAT_VERSION = 1
_HEADER = struct.Struct(">BBHHH")  # version, hash count, keypoint count, work width, work height


class Role(IntEnum):
    """What a stored hash describes, which decides how the index uses it."""

    # The whole picture after trimming borders: banked and queried.
    FULL = 0
    # A crop of the picture: banked and queried.
    REGION = 1
    # A rotation/flip of the whole picture: queried only (banking them would multiply
    # the index by 8 for the same effect).
    DIHEDRAL = 2
    # Sub-pictures of a composite (collage quadrants, screenshot content): queried only.
    PART = 3


# Banked views, as (top, left, bottom, right) fractions of the trimmed picture.
BANK_REGIONS: tuple[tuple[float, float, float, float], ...] = (
    (0.10, 0.10, 0.90, 0.90),
    (0.20, 0.20, 0.80, 0.80),
    (0.00, 0.20, 1.00, 1.00),
    (0.00, 0.35, 1.00, 1.00),
    (0.00, 0.00, 1.00, 0.80),
    (0.00, 0.00, 1.00, 0.65),
    (0.20, 0.00, 1.00, 1.00),
    (0.35, 0.00, 1.00, 1.00),
    (0.00, 0.00, 0.80, 1.00),
    (0.00, 0.00, 0.65, 1.00),
    (0.15, 0.00, 0.85, 1.00),
)


@dataclass(frozen=True, eq=False)
class RobustPdq:
    # (k, 32) uint8 PDQ hashes, with their roles and PDQ qualities (0..100).
    hashes: np.ndarray
    roles: np.ndarray
    qualities: np.ndarray
    # (n, 2) float32 keypoint positions in the working copy, (n, 32) uint8 ORB descriptors.
    points: np.ndarray
    descriptors: np.ndarray
    # Size (width, height) of the working copy the keypoints refer to.
    size: tuple[int, int]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RobustPdq) and _pack(self) == _pack(other)

    def __hash__(self) -> int:
        return hash(_pack(self))

    @property
    def full_hex(self) -> str:
        return self.hashes[int(np.argmax(self.roles == Role.FULL))].tobytes().hex()


# PDQ's DCT: the 16 lowest non-constant cosines over 64 samples.
_DCT = (
    np.sqrt(2 / 64)
    * np.cos(np.pi / 2 / 64 * (np.arange(1, 17)[:, None]) * (2 * np.arange(64)[None, :] + 1))
).astype(np.float32)


def _view(grey: np.ndarray) -> np.ndarray:
    return cv2.resize(grey, (HASH_SIDE, HASH_SIDE), interpolation=cv2.INTER_AREA)


def pdq_views(views: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """PDQ hashes (k, 32) and qualities (k,) of k 64x64 greyscale views, in one batch.

    This is the reference PDQ algorithm for a 64x64 input (where its Jarosz filter is the
    identity): DCT to 16x16, one bit per coefficient above the median, bits in the reference
    order; quality from the image-domain gradient. It agrees with the reference code up to
    float rounding at the median (about 2 bits in 256), at a twentieth of the cost per view.
    """
    pixels = views.astype(np.float32)
    coefficients = _DCT @ pixels @ _DCT.T
    flat = coefficients.reshape(len(views), 256)
    bits = (flat > np.median(flat, axis=1, keepdims=True))[:, ::-1]
    vertical = np.trunc((pixels[:, :-1, :] - pixels[:, 1:, :]) * 100 / 255)
    horizontal = np.trunc((pixels[:, :, :-1] - pixels[:, :, 1:]) * 100 / 255)
    gradient = np.abs(vertical).sum(axis=(1, 2)) + np.abs(horizontal).sum(axis=(1, 2))
    qualities = np.minimum(100, gradient // 90).astype(np.uint8)
    return np.packbits(bits, axis=1), qualities


def _dihedral(view: np.ndarray) -> list[np.ndarray]:
    """The 7 other rotations and flips of a view."""
    return [
        np.rot90(view, 1),
        np.rot90(view, 2),
        np.rot90(view, 3),
        view[:, ::-1],
        view[::-1, :],
        view.T,
        np.rot90(view, 2).T,
    ]


def _fraction_box(box: Box, fractions: tuple[float, float, float, float]) -> Box:
    top, left, bottom, right = fractions
    return Box(
        box.top + round(box.height * top),
        box.left + round(box.width * left),
        box.top + round(box.height * bottom),
        box.left + round(box.width * right),
    )


def _usable(box: Box) -> bool:
    return box.height >= 8 and box.width >= 8


def grey_working_copy(rgb: np.ndarray) -> np.ndarray:
    """Greyscale first (a third of the pixels to resample), then the area-averaged shrink.
    The weights are PDQ's own luma weights, so hashing the grey copy loses nothing."""
    grey = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
    return working_copy(grey, WORK_SIDE)


def compute(rgb: np.ndarray) -> RobustPdq:
    grey = grey_working_copy(rgb)
    picture = border_box(grey)
    trimmed = picture.crop(grey)
    views: list[np.ndarray] = []
    roles: list[int] = []

    def add(region: np.ndarray, role: Role) -> None:
        views.append(_view(region))
        roles.append(role)

    add(trimmed, Role.FULL)
    for variant in _dihedral(views[0]):
        views.append(np.ascontiguousarray(variant))
        roles.append(Role.DIHEDRAL)
    for fractions in BANK_REGIONS:
        region = _fraction_box(picture, fractions)
        if _usable(region):
            add(region.crop(grey), Role.REGION)
    height, width = grey.shape
    for quadrant in (
        Box(0, 0, height // 2, width // 2),
        Box(0, width // 2, height // 2, width),
        Box(height // 2, 0, height, width // 2),
        Box(height // 2, width // 2, height, width),
    ):
        tile = quadrant.crop(grey)
        inner = border_box(tile)
        if _usable(inner):
            add(inner.crop(tile), Role.PART)
    block = content_box(grey)
    if block is not None and _usable(block):
        add(block.crop(grey), Role.PART)
    hashes, qualities = pdq_views(np.stack(views))
    points, descriptors = keypoints(trimmed)
    return RobustPdq(
        hashes=hashes,
        roles=np.array(roles, dtype=np.uint8),
        qualities=qualities,
        points=points,
        descriptors=descriptors,
        size=(trimmed.shape[1], trimmed.shape[0]),
    )


_ORB = None


def keypoints(grey: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ORB keypoints of the trimmed working copy: positions (n, 2) and descriptors (n, 32)."""
    global _ORB
    if _ORB is None:
        # A small patch and edge threshold so small working copies still yield keypoints.
        _ORB = cv2.ORB_create(nfeatures=MAX_KEYPOINTS, edgeThreshold=15, patchSize=15)
    found, descriptors = _ORB.detectAndCompute(grey, None)
    if descriptors is None or not found:
        return np.zeros((0, 2), np.float32), np.zeros((0, 32), np.uint8)
    points = np.array([k.pt for k in found], dtype=np.float32)
    return points, descriptors.astype(np.uint8)


# --- compact form -------------------------------------------------------------------------
def _pack(value: RobustPdq) -> bytes:
    header = _HEADER.pack(
        _FORMAT_VERSION, len(value.hashes), len(value.points), value.size[0], value.size[1]
    )
    meta = np.stack([value.roles, value.qualities], axis=1).astype(np.uint8)
    # Positions are stored in 1/8 pixel of the working copy, which is finer than ORB's accuracy.
    points = np.round(value.points * 8).clip(0, 65535).astype(">u2")
    return b"".join(
        [
            header,
            meta.tobytes(),
            value.hashes.tobytes(),
            points.tobytes(),
            value.descriptors.tobytes(),
        ]
    )


def _unpack(data: bytes) -> RobustPdq:
    if len(data) < _HEADER.size:
        raise SignalFormatError("a pdq-robust signal is too short to hold its header")
    version, count, npoints, width, height = _HEADER.unpack_from(data)
    if version != _FORMAT_VERSION:
        raise SignalFormatError(f"unsupported pdq-robust format version {version}")
    expected = _HEADER.size + count * 34 + npoints * 36
    if len(data) != expected or count == 0:
        raise SignalFormatError(
            f"a pdq-robust signal with {count} hashes and {npoints} keypoints has "
            f"{expected} bytes, got {len(data)}"
        )
    offset = _HEADER.size
    meta = np.frombuffer(data, np.uint8, count * 2, offset).reshape(count, 2)
    offset += count * 2
    hashes = np.frombuffer(data, np.uint8, count * 32, offset).reshape(count, 32)
    offset += count * 32
    points = np.frombuffer(data, ">u2", npoints * 2, offset).reshape(npoints, 2)
    offset += npoints * 4
    descriptors = np.frombuffer(data, np.uint8, npoints * 32, offset).reshape(npoints, 32)
    roles = meta[:, 0].copy()
    if roles.max() > max(Role) or not (roles == Role.FULL).any():
        raise SignalFormatError("a pdq-robust signal needs one whole-picture hash and known roles")
    if meta[:, 1].max() > 100:
        raise SignalFormatError("a pdq-robust quality is a whole number from 0 to 100")
    return RobustPdq(
        hashes=hashes.copy(),
        roles=roles,
        qualities=meta[:, 1].copy(),
        points=points.astype(np.float32) / 8,
        descriptors=descriptors.copy(),
        size=(width, height),
    )


class RobustPdqSignal(SignalType[RobustPdq]):
    name = "pdq-robust"
    description = (
        "PDQ hashes of trimmed, cropped, flipped and tiled views plus ORB keypoints "
        "(catches cropped, padded, mirrored, rotated, captioned and framed copies)"
    )
    content_types = frozenset({ContentType.IMAGE})
    # Not printed by `cordon hash` by default (it is not a standard format), but computed
    # whenever images are banked or matched.
    default_for = frozenset()
    matching_default_for = frozenset({ContentType.IMAGE})
    # Hamming distance between whole-picture hashes (any rotation/flip) that matches alone,
    # as plain PDQ; region and loose candidates also need keypoint verification.
    default_threshold = 31

    def hash_image(self, rgb: np.ndarray, options: HashOptions) -> RobustPdq:
        return compute(rgb)

    def format(self, value: RobustPdq) -> str:
        return base64.b64encode(_pack(value)).decode("ascii")

    def parse(self, text: str) -> RobustPdq:
        if not isinstance(text, str):
            raise SignalFormatError("a pdq-robust signal must be a base64 string")
        try:
            data = base64.b64decode(text.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise SignalFormatError("a pdq-robust signal must be valid base64") from None
        return _unpack(data)

    def to_json(self, value: RobustPdq) -> dict[str, Any]:
        return {
            "hash": self.format(value),
            "pdq": value.full_hex,
            "views": len(value.hashes),
            "keypoints": len(value.points),
        }

    def summary(self, value: RobustPdq) -> str:
        return f"{value.full_hex}  views={len(value.hashes)} keypoints={len(value.points)}"

    def weak(self, value: RobustPdq) -> bool:
        full = int(np.argmax(value.roles == Role.FULL))
        return int(value.qualities[full]) < 50 and len(value.points) < 20

    def compare(self, a: RobustPdq, b: RobustPdq, threshold: float | None = None) -> Comparison:
        from cordon.index.pdq_robust import RobustPdqIndex

        index = RobustPdqIndex(threshold=int(self.threshold(threshold)))
        index.add(0, b)
        hits = index.query(a)
        if hits:
            return Comparison(True, hits[0].distance, hits[0].detail)
        full_a = a.hashes[a.roles == Role.FULL][0]
        full_b = b.hashes[b.roles == Role.FULL][0]
        distance = int(np.unpackbits(full_a ^ full_b).sum())
        return Comparison(False, distance, {"via": "none"})

    def make_index(self, threshold: float | None = None):  # type: ignore[no-untyped-def]
        from cordon.index.pdq_robust import RobustPdqIndex

        return RobustPdqIndex(threshold=int(self.threshold(threshold)))


SIGNAL = RobustPdqSignal()
