"""Geometry normalisation before robust hashing: working copies, border trimming, content boxes.

Reposted copies of an image are often padded, letterboxed or framed by an app's interface. A
perceptual hash of the whole canvas then describes mostly the frame; finding the picture first
(in the same way on the banked original and on the upload) lets both hashes describe the same
pixels. Everything here works on a small working copy, so it costs well under a millisecond.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# Channel spread (0..255) under which a row or column still counts as one flat colour; JPEG
# ringing next to a bar edge and mild noise stay under it.
FLAT_SPREAD = 28
# Never trim more than this fraction of a side away: a mostly flat picture stays itself.
MIN_KEEP = 0.2


@dataclass(frozen=True, slots=True)
class Box:
    """A rectangle in pixel coordinates: rows top..bottom-1, columns left..right-1."""

    top: int
    left: int
    bottom: int
    right: int

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def width(self) -> int:
        return self.right - self.left

    def crop(self, image: np.ndarray) -> np.ndarray:
        return image[self.top : self.bottom, self.left : self.right]


def working_copy(rgb: np.ndarray, max_side: int) -> np.ndarray:
    """The image shrunk (area-averaged, never enlarged) so its longer side is at most max_side."""
    height, width = rgb.shape[:2]
    scale = max_side / max(height, width)
    if scale >= 1:
        return np.ascontiguousarray(rgb)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)


def _flat_run(spread: np.ndarray, colours: np.ndarray, limit: int) -> int:
    """How many leading lines are flat and share the first line's colour."""
    if not len(spread) or spread[0] > FLAT_SPREAD:
        return 0
    same = np.abs(colours - colours[0]).max(axis=1) <= FLAT_SPREAD
    good = (spread <= FLAT_SPREAD) & same
    run = int(np.argmin(good)) if not good.all() else len(good)
    return min(run, limit)


def border_box(rgb: np.ndarray) -> Box:
    """The box left after removing flat bars (padding, letterbox, pillarbox) of any colour.

    Each side is trimmed on its own, so bars of different widths and colours are handled; a
    side is only trimmed while its lines are flat and of the colour of the outermost line.
    """
    height, width = rgb.shape[:2]
    if height < 4 or width < 4:
        return Box(0, 0, height, width)
    pixels = (rgb if rgb.ndim == 3 else rgb[:, :, None]).astype(np.int16)
    max_rows = int(height * (1 - MIN_KEEP))
    max_cols = int(width * (1 - MIN_KEEP))
    top = bottom = left = right = 0
    # Bars nest (a letterboxed video later pillarboxed), so peel until nothing changes.
    for _ in range(3):
        before = (top, bottom, left, right)
        rows = slice(top, height - bottom)
        cols = slice(left, width - right)
        row_spread, row_colour = _lines(pixels[rows, cols], axis=1)
        col_spread, col_colour = _lines(pixels[rows, cols], axis=0)
        top += _flat_run(row_spread, row_colour, max_rows - top - bottom)
        bottom += _flat_run(row_spread[::-1], row_colour[::-1], max_rows - top - bottom)
        left += _flat_run(col_spread, col_colour, max_cols - left - right)
        right += _flat_run(col_spread[::-1], col_colour[::-1], max_cols - left - right)
        if (top, bottom, left, right) == before:
            break
    return Box(top, left, height - bottom, width - right)


def _lines(pixels: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """Per line (row for axis=1, column for axis=0): channel spread and mean colour."""
    spread = (pixels.max(axis=axis) - pixels.min(axis=axis)).max(axis=1)
    return spread, pixels.mean(axis=axis)


def content_box(rgb: np.ndarray, min_area: float = 0.12) -> Box | None:
    """The largest textured rectangle of an image (RGB or grey), e.g. a picture in a screenshot.

    Interface chrome (bars, buttons, text lines) is flat or thin; a picture is a dense block of
    texture. Returns None when no block covers at least `min_area` of the image or when the
    block is (nearly) the whole image, i.e. when there is nothing to gain from cropping.
    """
    height, width = rgb.shape[:2]
    if height < 16 or width < 16:
        return None
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY) if rgb.ndim == 3 else rgb
    # Local contrast over a few pixels: flat chrome is ~0, pictures and text are not.
    kernel = np.ones((5, 5), np.uint8)
    active = ((cv2.dilate(grey, kernel) - cv2.erode(grey, kernel)) > 4).astype(np.uint8)
    # Closing fills the smooth areas of a picture; opening with a larger square then removes
    # what is thinner than it: text lines, rules, icons.
    side = max(3, min(height, width) // 40)
    active = cv2.morphologyEx(active, cv2.MORPH_CLOSE, np.ones((side, side), np.uint8))
    active = cv2.morphologyEx(active, cv2.MORPH_OPEN, np.ones((2 * side + 1,) * 2, np.uint8))
    count, _, stats, _ = cv2.connectedComponentsWithStats(active, connectivity=4)
    if count < 2:
        return None
    best = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    x, y, w, h, _ = (int(v) for v in stats[best])
    if w * h < min_area * height * width or w * h > 0.9 * height * width:
        return None
    return Box(y, x, y + h, x + w)
