"""Geometry normalisation before robust hashing: working copies, border trimming, content boxes.

Reposted copies of an image are often padded, letterboxed or framed by an app's interface. A
perceptual hash of the whole canvas then describes mostly the frame; finding the picture first
(in the same way on the banked original and on the upload) lets both hashes describe the same
pixels. Everything here works on a small working copy, so it costs well under a millisecond.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

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


def _flat_run(
    spread: np.ndarray, colours: np.ndarray, limit: int, flat: int = FLAT_SPREAD
) -> int:
    """How many leading lines are flat and share the first line's colour."""
    if not len(spread) or spread[0] > flat:
        return 0
    same = np.abs(colours - colours[0]).max(axis=1) <= flat
    good = (spread <= flat) & same
    run = int(np.argmin(good)) if not good.all() else len(good)
    return min(run, limit)


def border_box(
    rgb: np.ndarray, overlay: float = 0.0, flat: int = FLAT_SPREAD, min_keep: float = MIN_KEEP
) -> Box:
    """The box left after removing flat bars (padding, letterbox, pillarbox) of any colour.

    Each side is trimmed on its own, so bars of different widths and colours are handled; a
    side is only trimmed while its lines are flat and of the colour of the outermost line.
    With `overlay` > 0, a line still counts as flat when up to that share of it (at each end)
    is covered by something else: a channel logo or a ticker drawn across a video's bars.
    `flat` is the largest spread of values along a line that still counts as flat; at least
    `min_keep` of each dimension is kept.
    """
    height, width = rgb.shape[:2]
    if height < 4 or width < 4:
        return Box(0, 0, height, width)
    pixels = (rgb if rgb.ndim == 3 else rgb[:, :, None]).astype(np.int16)
    max_rows = int(height * (1 - min_keep))
    max_cols = int(width * (1 - min_keep))
    top = bottom = left = right = 0
    # Bars nest (a letterboxed video later pillarboxed), so peel until nothing changes.
    for _ in range(3):
        before = (top, bottom, left, right)
        rows = slice(top, height - bottom)
        cols = slice(left, width - right)
        row_spread, row_colour = _lines(pixels[rows, cols], axis=1, overlay=overlay)
        col_spread, col_colour = _lines(pixels[rows, cols], axis=0, overlay=overlay)
        top += _flat_run(row_spread, row_colour, max_rows - top - bottom, flat)
        bottom += _flat_run(row_spread[::-1], row_colour[::-1], max_rows - top - bottom, flat)
        left += _flat_run(col_spread, col_colour, max_cols - left - right, flat)
        right += _flat_run(col_spread[::-1], col_colour[::-1], max_cols - left - right, flat)
        if (top, bottom, left, right) == before:
            break
    return Box(top, left, height - bottom, width - right)


def _lines(
    pixels: np.ndarray, axis: int, overlay: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Per line (row for axis=1, column for axis=0): channel spread and mean colour; with
    `overlay`, the spread between the overlay and 1 - overlay quantiles and the median."""
    if overlay <= 0:
        spread = (pixels.max(axis=axis) - pixels.min(axis=axis)).max(axis=1)
        return spread, pixels.mean(axis=axis)
    ordered = np.sort(pixels, axis=axis)
    count = pixels.shape[axis]
    low, middle, high = (
        np.take(ordered, min(count - 1, int(q * count)), axis=axis)
        for q in (overlay, 0.5, 1 - overlay)
    )
    return (high - low).max(axis=1), middle.astype(np.float64)


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


# A straight edge: at least this fraction of the image's side in one run of strong gradient.
EDGE_MIN_RUN = 0.3
# Grey-level step across an edge; JPEG ringing and soft shading stay under it.
EDGE_STEP = 12
# Gaps in an edge run that are bridged (a few pixels of the picture matching the background).
EDGE_GAP = 5
MAX_EDGES = 40


def _edge_runs(step: np.ndarray, min_run: int) -> list[tuple[int, int, int]]:
    """Runs of strong steps along each row of `step` (rows, columns): (row, start, end)."""
    strong = (step > EDGE_STEP).astype(np.uint8)
    strong = cv2.morphologyEx(strong, cv2.MORPH_CLOSE, np.ones((1, EDGE_GAP), np.uint8))
    padded = np.zeros((strong.shape[0], strong.shape[1] + 2), np.int8)
    padded[:, 1:-1] = strong
    changes = np.diff(padded, axis=1)
    rows, starts = np.nonzero(changes == 1)
    _, ends = np.nonzero(changes == -1)
    keep = ends - starts >= min_run
    return list(zip(rows[keep].tolist(), starts[keep].tolist(), ends[keep].tolist(), strict=True))


def _lines_of(runs: list[tuple[int, int, int]], tolerance: int) -> list[tuple[int, int, int]]:
    """Merge runs on neighbouring rows with the same span (one outline spread over a few rows
    by resampling and by the two-line step) into one line at the middle row."""
    groups: list[list[int]] = []  # first row, last row, start, end
    for row, start, end in sorted(runs):
        for group in groups[-3:]:
            if (
                row - group[1] <= 2
                and abs(start - group[2]) <= tolerance
                and abs(end - group[3]) <= tolerance
            ):
                group[1], group[2], group[3] = row, min(start, group[2]), max(end, group[3])
                break
        else:
            groups.append([row, row, start, end])
    return [((first + last) // 2, start, end) for first, last, start, end in groups]


# Fraction of its length over which a side of a box must be a strong step.
SIDE_COVER = 0.7
# The same for the sides of a box whose top or bottom edge runs on past it (`edge_boxes`
# with `shared`): pieces of footage make many such boxes with a side or two half drawn.
SHARED_SIDE_COVER = 0.9


class _Sides:
    """Which outlines of a step map (lines x positions) are strong steps: per outline between
    two lines, the running count of strong steps along it, so that checking a side of one of
    the many candidate boxes is two lookups."""

    def __init__(self, step: np.ndarray) -> None:
        strong = step > EDGE_STEP
        lines, positions = strong.shape
        padded = np.zeros((lines + 3, positions), bool)
        padded[2 : lines + 2] = strong
        # The outline between lines `line - 1` and `line` takes steps `line - 2` to `line`.
        near = padded[:-2] | padded[1:-1] | padded[2:]
        self._counts = np.zeros((lines + 1, positions + 1), np.int32)
        np.cumsum(near, axis=1, out=self._counts[:, 1:])
        self._lines = lines

    def __call__(
        self, line: np.ndarray, first: np.ndarray, last: np.ndarray, cover: np.ndarray
    ) -> np.ndarray:
        """Per box, whether the outline between lines `line - 1` and `line` is a strong step
        from `first` to `last` over `cover` of it; the image border always is."""
        border = (line <= 0) | (line >= self._lines + 1)
        inner = np.clip(line, 0, self._lines)
        count = self._counts[inner, last] - self._counts[inner, first]
        length = last - first
        strong = (length > 0) & (count / np.maximum(length, 1) >= cover)
        return border | strong


def _nested(
    start_a: np.ndarray, end_a: np.ndarray, start_b: np.ndarray, end_b: np.ndarray, tolerance: int
) -> np.ndarray:
    """Per pair, whether one of two spans lies within the other (give or take `tolerance`)."""
    return ((start_a - tolerance <= start_b) & (end_b <= end_a + tolerance)) | (
        (start_b - tolerance <= start_a) & (end_a <= end_b + tolerance)
    )


def edge_boxes(
    grey: np.ndarray,
    min_area: float = 0.12,
    limit: int = 4,
    shared: bool = False,
    key: Callable[[Box], Any] | None = None,
) -> list[Box]:
    """Rectangles bounded by straight edges: a picture pasted into a screenshot, a caption
    card or a collage with gutters, largest first.

    A pasted picture differs from what surrounds it along its whole outline, so its top and
    bottom edges are two long runs of strong vertical gradient over the same columns (and its
    sides likewise); text lines and interface icons give only short runs. The image border
    counts as an edge, so a picture under a caption bar is found too.

    With `shared`, one of the two runs may also go on past the other at either end: the top of
    a window in a video that lies on the line of a title bar or a horizon behind it. The box
    spans the shorter run, and its other two sides must still be edges over it.

    With `key`, the `limit` boxes kept are the first in the order of `key` (then largest),
    instead of the largest: busy footage has many large outlines, and a small one that is
    wanted would be cut off by them.
    """
    height, width = grey.shape[:2]
    if height < 32 or width < 32:
        return []
    pixels = grey.astype(np.int16)
    boxes: set[Box] = set()
    # Steps over two lines: resampling spreads a sharp outline over two lines.
    steps = []
    for axis_pixels in (pixels, pixels.T):
        step = np.zeros((axis_pixels.shape[0] - 1, axis_pixels.shape[1]), np.int16)
        step[1:-1] = np.abs(axis_pixels[3:] - axis_pixels[:-3])
        steps.append(step)
    # Horizontal edges (steps between rows) pair into boxes spanning their columns, and
    # vertical edges (steps between columns) into boxes spanning their rows; the other two
    # sides must be edges too, which rules out blocks of text lines of equal length.
    for horizontal, step, side_steps, across, along in (
        (True, steps[0], steps[1], height, width),
        (False, steps[1], steps[0], width, height),
    ):
        is_side = _Sides(side_steps)
        tolerance = max(2, round(0.03 * along))
        runs = _edge_runs(step, round(EDGE_MIN_RUN * along))
        # Busy pictures have many long edges; the longest are the likely outlines, and the
        # pairing below is quadratic in their number.
        runs = sorted(runs, key=lambda run: run[1] - run[2])[:MAX_EDGES]
        # The edge sits between row r and r+1; the image border is an edge of full length.
        lines = [(-1, 0, along), *((r, s, e) for r, s, e in _lines_of(runs, tolerance))]
        lines.append((across - 1, 0, along))
        # Every pair of lines (in the order of a double loop over them) whose spans agree,
        # or with `shared` nest, and that encloses enough area; then their sides are checked.
        row, start, end = np.array(lines, np.int64).reshape(-1, 3).T
        a, b = np.triu_indices(len(lines), 1)
        aligned = (np.abs(start[a] - start[b]) <= tolerance) & (
            np.abs(end[a] - end[b]) <= tolerance
        )
        paired = aligned | (shared & _nested(start[a], end[a], start[b], end[b], tolerance))
        low, high = np.maximum(start[a], start[b]), np.minimum(end[a], end[b])
        firsts, lasts = row[a] + 1, row[b] + 1
        paired &= (lasts - firsts) * (high - low) >= min_area * height * width
        # A box on an edge that runs on is one whose own sides are (nearly) whole.
        cover = np.where(aligned, SIDE_COVER, SHARED_SIDE_COVER)
        paired &= is_side(low, firsts, lasts, cover) & is_side(high, firsts, lasts, cover)
        for k in np.flatnonzero(paired).tolist():
            first, last, lo, hi = int(firsts[k]), int(lasts[k]), int(low[k]), int(high[k])
            box = Box(first, lo, last, hi) if horizontal else Box(lo, first, hi, last)
            if box.height * box.width <= 0.9 * height * width:
                boxes.add(box)
    ordered = sorted(boxes, key=lambda b: (-b.height * b.width, b.top, b.left))
    if key is not None:
        ordered.sort(key=key)
    # One outline blurred over neighbouring rows gives near-identical boxes: keep the first.
    near = max(2, round(0.02 * max(height, width)))
    distinct: list[Box] = []
    for box in ordered:
        if len(distinct) == limit:
            break
        if all(
            max(
                abs(box.top - o.top),
                abs(box.left - o.left),
                abs(box.bottom - o.bottom),
                abs(box.right - o.right),
            )
            > near
            for o in distinct
        ):
            distinct.append(box)
    return distinct[:limit]


def grid_cells(grey: np.ndarray, min_side: float = 0.2, limit: int = 6) -> list[Box]:
    """The cells of a collage split by flat gutters (rows or columns of one colour crossing the
    whole image), largest first; empty when no gutter splits the image.

    Quadrants assume an even 2x2 grid; gutters say where the tiles really are, whatever their
    number and sizes.
    """
    height, width = grey.shape[:2]
    if height < 32 or width < 32:
        return []
    pixels = grey.astype(np.int16)
    row_flat = (pixels.max(axis=1) - pixels.min(axis=1)) <= FLAT_SPREAD
    col_flat = (pixels.max(axis=0) - pixels.min(axis=0)) <= FLAT_SPREAD

    def segments(flat: np.ndarray, length: int) -> list[tuple[int, int]]:
        padded = np.concatenate([[1], flat.astype(np.int8), [1]])
        changes = np.diff(padded)
        starts = np.nonzero(changes == -1)[0]
        ends = np.nonzero(changes == 1)[0]
        return [(s, e) for s, e in zip(starts, ends, strict=True) if e - s >= min_side * length]

    rows = segments(row_flat, height)
    cols = segments(col_flat, width)
    if len(rows) < 2 and len(cols) < 2:
        return []
    rows = rows or [(0, height)]
    cols = cols or [(0, width)]
    cells = [Box(int(t), int(left), int(b), int(r)) for t, b in rows for left, r in cols]
    cells.sort(key=lambda c: (-c.height * c.width, c.top, c.left))
    return cells[:limit]
