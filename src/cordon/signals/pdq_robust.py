"""pdq-robust: PDQ hashes of several views of an image plus ORB keypoints, to catch edited copies.

Plain PDQ describes the whole frame, so it survives re-encoding and colour changes but not
geometry: a 5% crop, a border, a caption bar or a mirror moves most of its 256 bits. This signal
keeps plain PDQ untouched and adds, for each image:

- views of the picture after flat borders are trimmed (padding, letterbox, pillarbox): the whole
  picture, centre crops, crops that drop one edge, and the middle band (where captions and meme
  text are not), each hashed with the reference PDQ code on a 64x64 area-averaged copy;
- the whole picture untrimmed, with its centre crops and middle band, when trimming removed
  something: trimming is a guess, and a copy that lost or changed the bars (a collage tile, a
  recoloured frame, a centre crop, meme text written over a frame) is still the picture;
- views used only when querying: the 7 other rotations/flips of the whole picture, a centre
  crop of 2.5% a side (a copy cut by that much is then the banked crop of 5% a side), the four
  quadrants (the picture as one tile of a collage), the cells between flat gutters, the
  rectangles outlined by straight edges (a picture pasted into a screenshot or under a
  caption) and the textured block of a screenshot;
- up to 160 ORB keypoints (position + 256-bit descriptor), so that a candidate found at a loose
  hash distance is confirmed by geometry (a consistent affine transform between keypoints)
  rather than by a looser threshold alone, plus up to 100 keypoints of the mirrored picture
  (ORB is not mirror invariant; a mirrored and cropped copy is verified with those).

All views are computed from one small greyscale working copy, which keeps the cost to a few
milliseconds per image whatever its size.
"""

from __future__ import annotations

import base64
import binascii
import struct
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

import cv2
import numpy as np

from cordon.content import ContentType
from cordon.errors import SignalFormatError
from cordon.media.normalize import (
    Box,
    border_box,
    content_box,
    edge_boxes,
    grid_cells,
    working_copy,
)
from cordon.signals.base import Comparison, HashOptions, SignalType
from cordon.signals.pdq_numpy import pdq_views

# Longer side of the greyscale working copy that every view and keypoint comes from.
WORK_SIDE = 320
# PDQ of a 64x64 copy: PDQ's own filter reduces to 64x64 anyway, and hashing 4k pixels
# instead of a megapixel is what makes two dozen hashes affordable.
HASH_SIDE = 64
MAX_KEYPOINTS = 160
# A crop or part whose 8x8-pixel blocks (of the 64x64 copy) are mostly flat is a piece of a
# silhouette, a wallpaper or a blank page: PDQ still finds strong edges there (quality 100),
# but such views of unrelated pictures hash alike (two hearts' crops 18 bits apart). A block
# is flat when its pixels spread less than FLAT_BLOCK_STD; a crop or part with at least
# FLAT_VIEW_SHARE flat blocks gets at most FLAT_VIEW_QUALITY: the index then matches it
# without keypoint verification only at a much smaller distance than detailed views
# (quality >= 60). The whole picture keeps its PDQ quality: it is matched as plain PDQ would.
FLAT_BLOCK_STD = 2.0
FLAT_VIEW_SHARE = 0.55
FLAT_VIEW_QUALITY = 50
MAX_MIRRORED_KEYPOINTS = 100
_FORMAT_VERSION = 2
# version, hash count, keypoint count, work width, work height (version 1 ends here),
# mirrored keypoint count.
_HEADER_V1 = struct.Struct(">BBHHH")
_HEADER = struct.Struct(">BBHHHH")


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
    # PDQ moves 50-70 bits when a fine pattern (a chessboard, a table) shifts by 2.5% of its
    # side, so the centre crops come in steps of 5% a side: the whole picture, 5, 10, 15, 20%.
    (0.05, 0.05, 0.95, 0.95),
    (0.15, 0.15, 0.85, 0.85),
)
# Queried only: a copy cut by 2.5% a side, cut by as much again, is the banked crop of 5% a side.
QUERY_CENTRE = (0.025, 0.025, 0.975, 0.975)
# Banked views of the whole image, untrimmed, when trimming removed something (a frame, a thin
# outline, a soft edge taken for a bar): a copy cut around the centre loses the frame along
# with the edge of the picture, and text written over the frame stops the trimming; the
# copy's trimmed picture is then a crop of the file, not of the trimmed picture. Centre crops
# and the middle band.
WHOLE_REGIONS: tuple[tuple[float, float, float, float], ...] = (
    (0.05, 0.05, 0.95, 0.95),
    (0.10, 0.10, 0.90, 0.90),
    (0.15, 0.00, 0.85, 1.00),
)


@dataclass(frozen=True, eq=False)
class RobustPdq:
    # (k, 32) uint8 PDQ hashes, with their roles and PDQ qualities (0..100; capped at
    # FLAT_VIEW_QUALITY for mostly flat crops and parts).
    hashes: np.ndarray
    roles: np.ndarray
    qualities: np.ndarray
    # (n, 2) float32 keypoint positions in the working copy, (n, 32) uint8 ORB descriptors.
    points: np.ndarray
    descriptors: np.ndarray
    # Size (width, height) of the working copy the keypoints refer to.
    size: tuple[int, int]
    # Keypoints of the mirrored working copy, positions in mirrored coordinates: used only
    # when querying, so that a mirrored copy is verified like an upright one.
    mirrored_points: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.float32))
    mirrored_descriptors: np.ndarray = field(
        default_factory=lambda: np.zeros((0, 32), np.uint8)
    )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RobustPdq) and _pack(self) == _pack(other)

    def __hash__(self) -> int:
        return hash(_pack(self))

    @property
    def full_hex(self) -> str:
        return self.hashes[int(np.argmax(self.roles == Role.FULL))].tobytes().hex()


def _view(grey: np.ndarray) -> np.ndarray:
    return cv2.resize(grey, (HASH_SIDE, HASH_SIDE), interpolation=cv2.INTER_AREA)


def flat_share(views: np.ndarray) -> np.ndarray:
    """Share (k,) of flat 8x8 blocks in each of k 64x64 greyscale views."""
    blocks = views.astype(np.float32).reshape(len(views), 8, 8, 8, 8)
    return (blocks.std(axis=(2, 4)) < FLAT_BLOCK_STD).mean(axis=(1, 2))


def view_qualities(views: np.ndarray, qualities: np.ndarray, roles: np.ndarray) -> np.ndarray:
    """PDQ qualities of the views, capped for mostly flat crops and parts (FLAT_VIEW_SHARE)."""
    flat = (flat_share(views) >= FLAT_VIEW_SHARE) & np.isin(roles, [Role.REGION, Role.PART])
    return np.where(flat, np.minimum(qualities, FLAT_VIEW_QUALITY), qualities).astype(np.uint8)


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
    whole = Box(0, 0, height, width)
    if picture != whole:
        add(grey, Role.REGION)
        for fractions in WHOLE_REGIONS:
            region = _fraction_box(whole, fractions)
            if _usable(region):
                add(region.crop(grey), Role.REGION)
    parts: list[Box] = [_fraction_box(picture, QUERY_CENTRE)]
    for quadrant in (
        Box(0, 0, height // 2, width // 2),
        Box(0, width // 2, height // 2, width),
        Box(height // 2, 0, height, width // 2),
        Box(height // 2, width // 2, height, width),
    ):
        parts.append(quadrant)
        parts.append(_offset(quadrant, border_box(quadrant.crop(grey))))
    for cell in grid_cells(grey):
        parts.append(_offset(cell, border_box(cell.crop(grey))))
    parts.extend(edge_boxes(grey))
    block = content_box(grey)
    if block is not None:
        parts.append(block)
    for part in dict.fromkeys(parts):
        if _usable(part) and part != whole and part != picture:
            add(part.crop(grey), Role.PART)
    stacked = np.stack(views)
    hashes, qualities = pdq_views(stacked)
    qualities = view_qualities(stacked, qualities, np.array(roles))
    points, descriptors = keypoints(trimmed)
    mirrored_points, mirrored_descriptors = keypoints(
        np.ascontiguousarray(trimmed[:, ::-1]), MAX_MIRRORED_KEYPOINTS
    )
    return RobustPdq(
        hashes=hashes,
        roles=np.array(roles, dtype=np.uint8),
        qualities=qualities,
        points=points,
        descriptors=descriptors,
        size=(trimmed.shape[1], trimmed.shape[0]),
        mirrored_points=mirrored_points,
        mirrored_descriptors=mirrored_descriptors,
    )


def _offset(outer: Box, inner: Box) -> Box:
    """`inner`, given relative to `outer`, in the coordinates `outer` is given in."""
    return Box(
        outer.top + inner.top,
        outer.left + inner.left,
        outer.top + inner.bottom,
        outer.left + inner.right,
    )


_ORB: dict[int, Any] = {}


def keypoints(grey: np.ndarray, limit: int = MAX_KEYPOINTS) -> tuple[np.ndarray, np.ndarray]:
    """ORB keypoints of the trimmed working copy: positions (n, 2) and descriptors (n, 32)."""
    if limit not in _ORB:
        # A small patch and edge threshold so small working copies still yield keypoints.
        _ORB[limit] = cv2.ORB_create(nfeatures=limit, edgeThreshold=15, patchSize=15)
    found, descriptors = _ORB[limit].detectAndCompute(grey, None)
    if descriptors is None or not found:
        return np.zeros((0, 2), np.float32), np.zeros((0, 32), np.uint8)
    points = np.array([k.pt for k in found], dtype=np.float32)
    return points, descriptors.astype(np.uint8)


# --- compact form -------------------------------------------------------------------------
def _pack(value: RobustPdq) -> bytes:
    header = _HEADER.pack(
        _FORMAT_VERSION,
        len(value.hashes),
        len(value.points),
        value.size[0],
        value.size[1],
        len(value.mirrored_points),
    )
    meta = np.stack([value.roles, value.qualities], axis=1).astype(np.uint8)
    return b"".join(
        [
            header,
            meta.tobytes(),
            value.hashes.tobytes(),
            _pack_points(value.points),
            value.descriptors.tobytes(),
            _pack_points(value.mirrored_points),
            value.mirrored_descriptors.tobytes(),
        ]
    )


def _pack_points(points: np.ndarray) -> bytes:
    # Positions are stored in 1/8 pixel of the working copy, finer than ORB's accuracy.
    return np.round(points * 8).clip(0, 65535).astype(">u2").tobytes()


def _unpack(data: bytes) -> RobustPdq:
    if len(data) < _HEADER_V1.size:
        raise SignalFormatError("a pdq-robust signal is too short to hold its header")
    version = data[0]
    if version == 1:
        _, count, npoints, width, height = _HEADER_V1.unpack_from(data)
        nmirrored, offset = 0, _HEADER_V1.size
    elif version == _FORMAT_VERSION and len(data) >= _HEADER.size:
        _, count, npoints, width, height, nmirrored = _HEADER.unpack_from(data)
        offset = _HEADER.size
    else:
        raise SignalFormatError(f"unsupported or truncated pdq-robust format version {version}")
    expected = offset + count * 34 + (npoints + nmirrored) * 36
    if len(data) != expected or count == 0:
        raise SignalFormatError(
            f"a pdq-robust signal with {count} hashes and {npoints + nmirrored} keypoints has "
            f"{expected} bytes, got {len(data)}"
        )
    meta = np.frombuffer(data, np.uint8, count * 2, offset).reshape(count, 2)
    offset += count * 2
    hashes = np.frombuffer(data, np.uint8, count * 32, offset).reshape(count, 32)
    offset += count * 32
    points = np.frombuffer(data, ">u2", npoints * 2, offset).reshape(npoints, 2)
    offset += npoints * 4
    descriptors = np.frombuffer(data, np.uint8, npoints * 32, offset).reshape(npoints, 32)
    offset += npoints * 32
    mirrored = np.frombuffer(data, ">u2", nmirrored * 2, offset).reshape(nmirrored, 2)
    offset += nmirrored * 4
    mirrored_descriptors = np.frombuffer(data, np.uint8, nmirrored * 32, offset)
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
        mirrored_points=mirrored.astype(np.float32) / 8,
        mirrored_descriptors=mirrored_descriptors.reshape(nmirrored, 32).copy(),
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
