"""vpdq-robust: per frame, PDQ of views that survive how videos are reposted.

vPDQ hashes whole frames, so a letterboxed, mirrored, captioned or picture-in-picture copy moves
most bits of every frame. This signal hashes every frame (up to FRAMES_PER_SECOND a second, on
vPDQ's clock `frame index / frame rate`); from a greyscale copy of each it hashes:

- the frame after its flat bars are trimmed (letterbox, pillarbox, padding): banked;
- the frame without its bottom fifth (news tickers, subtitles, lower-third logos), then
  trimmed: banked (cut first, because a ticker across a pillarboxed video hides its bars);
- both of them mirrored, and the window: a rectangle outlined by straight edges that stays put
  over frames (the video shown as a window inside other footage): queried only.

Bars and the window are followed over the frames of a video (`VideoState`): one frame alone
cannot tell a bar from a flat ceiling, or a window from the outlines of the footage around it.

The index (`cordon.index.vpdq_robust`) banks SAMPLES_PER_SECOND frames a second, looks every
query frame's views up in vPDQ's frame index and fits the frame hits of each banked video to
one time line (any offset, speed 0.8-1.25): a clip matches when a run of several seconds of its
frames lies on one line, whatever share of either video that is.
"""

from __future__ import annotations

import base64
import binascii
import math
import struct
from collections import deque
from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
from av.video.reformatter import VideoReformatter

from cordon.content import ContentType
from cordon.errors import SignalFormatError
from cordon.media.normalize import Box, border_box, edge_boxes
from cordon.signals.base import Comparison, HashOptions, SignalType
from cordon.signals.pdq_robust import HASH_SIDE, pdq_views

if TYPE_CHECKING:
    from cordon.index.vpdq_robust import RobustVideoIndex
    from cordon.media.video import VideoFrame, VideoInfo

# Longer side of the greyscale copy bars and windows are found on: PDQ needs 64x64, edges a
# little more.
FRAME_SIDE = 192
# Longer side of the copy the views are cut from: a window of 45% of the width, holding a
# pillarboxed portrait video, is 86 pixels wide at 192 and its picture 32 (PDQ's view is 64).
DETAIL_SIDE = 384
# Outlines considered for the window view (clear of the frame's borders first, then largest).
WINDOW_CANDIDATES = 4
# Smallest window, as a share of the frame's area: one a third of the frame's width and height
# is 11% (under the 12% pictures in screenshots are looked for at), a quarter 6%. Outlines
# that reach a border of the frame are windows from BORDER_WINDOW_MIN_AREA.
WINDOW_MIN_AREA = 0.05
BORDER_WINDOW_MIN_AREA = 0.12
# A window is the outline found on at least this share of the last WINDOW_MEMORY frames.
WINDOW_MEMORY = 60
WINDOW_PERSISTENCE = 0.3
# Among windows found that often, the one found on most of the last WINDOW_LATELY frames wins.
WINDOW_LATELY = 25
# Small-copy lines a window's edge may be moved by to the step of the mean frame.
OUTLINE_REACH = 2
# Frames averaged before outlines are looked for (1 s at 25 fps): footage that moves blurs.
EDGE_MEMORY = 25
# How far (pixels of the FRAME_SIDE copy) an outline may move and still be the same: a window
# stays put, outlines in panning footage drift past this within a few frames.
WINDOW_JITTER = 2
# Largest spread of grey values along a bar line. Encoded bars are flat to a few levels;
# the images' 28 also takes low-contrast content (carpet, wall, sky) for bars.
BAR_SPREAD = 12
# A bar is unchanged (mean absolute change in grey levels) over STATIC_LAG frames (0.3 s).
STATIC_LAG = 8
STATIC_CHANGE = 4.0
# Mean change (grey levels, frame to frame) under which a strip between two nested outlines
# is taken for still picture (bars), not for footage (`_footage_between`).
STRIP_CHANGE = 0.5
# Correlation over the last frames of the change inside and outside a side of an outline
# above which the outline is taken for one of the footage (`_moves_with_footage`).
FOOTAGE_CORRELATION = 0.8
# Correlation of the change of a strip between two nested outlines with that of the picture
# inside the smaller one above which the strip is taken for a part of the same picture
# (`_picture_between`): a window's picture changes unevenly, 0.56-0.76 on a pan.
PICTURE_CORRELATION = 0.5
# Outlines of a frame looked at for a window inside them while none is followed (`_settled`),
# and the least mean change of the footage over that of the window at a side of it.
SETTLE_CANDIDATES = 16
SETTLE_STEP = 1.5
SETTLE_LINES = 3
# Lines at the edge of an outline that may belong to the footage around it.
OUTLINE_SLACK = 2
# Share of each dimension always kept: a portrait phone video squeezed to 4:3 and pillarboxed
# into 21:9 is 18% of the frame's width.
BAR_KEEP = 0.1
# Bars are trimmed by this quantile of what the last TRIM_MEMORY frames trimmed (0.5 s).
TRIM_MEMORY = 15
TRIM_QUANTILE = 0.2
# Share of the frame's height kept by the band view (tickers sit at the bottom).
BAND_KEEP = 0.8
# Share of a bar line (at each end) that an overlay may cover.
OVERLAY = 0.2
# Frames hashed per second, and the share of them the index banks. vPDQ's one per second is
# enough when a copy is cut on the same second boundaries; a clip cut anywhere samples other
# instants, and PDQ moves 40-130 bits between neighbouring frames of handheld footage (a
# phone video of a fabric: every frame pair 0.04 s apart). So every frame is hashed (up to
# FRAMES_PER_SECOND): a clip cut anywhere then holds the very frames that were banked, and the
# index banks one frame per 1/SAMPLES_PER_SECOND (the first at or after each instant).
FRAMES_PER_SECOND = 30.0
SAMPLES_PER_SECOND = 8.0
_FALLBACK_RATE = 25.0
_FORMAT_VERSION = 1
_HEADER = struct.Struct(">BBI")  # version, views per frame, frame count


class View(IntEnum):
    """The views hashed per frame, in storage order."""

    FULL = 0
    BAND = 1
    MIRROR = 2
    MIRROR_BAND = 3
    INSET = 4


VIEWS = len(View)


@dataclass(frozen=True, eq=False)
class RobustVideo:
    # (n,) float32 seconds on the vPDQ clock, (n, VIEWS, 32) uint8 hashes, (n, VIEWS) qualities.
    # A view a frame does not have (no inset found) has quality 0 and is never used.
    seconds: np.ndarray
    hashes: np.ndarray
    qualities: np.ndarray

    def __len__(self) -> int:
        return len(self.seconds)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RobustVideo) and _pack(self) == _pack(other)

    def __hash__(self) -> int:
        return hash(_pack(self))


def frame_views(
    picture: np.ndarray, video: VideoState | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Hashes (VIEWS, 32) and qualities (VIEWS,) of one frame (RGB or greyscale).

    Bars and windows are found on a copy of at most FRAME_SIDE pixels; the views are cut from
    the picture as given (up to DETAIL_SIDE), so that a window or a squeezed, pillarboxed
    picture still holds more pixels than the 64x64 PDQ view. With `video` (fed the frames of
    one video in order), bars and the window are what stays put from frame to frame.
    """
    video = video or VideoState(memory=1)
    grey = picture if picture.ndim == 2 else cv2.cvtColor(picture, cv2.COLOR_RGB2GRAY)
    grey = np.ascontiguousarray(grey)
    small = grey
    if max(grey.shape) > FRAME_SIDE:
        size = _fit(grey.shape[1], grey.shape[0], FRAME_SIDE)
        small = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
    scale = (grey.shape[0] / small.shape[0], grey.shape[1] / small.shape[1])

    def cut(box: Box, within: Box) -> np.ndarray:
        return _view(_refined(grey, _scaled(box, scale), _scaled(within, scale)))

    band = Box(0, 0, max(8, round(small.shape[0] * BAND_KEEP)), small.shape[1])
    trimmed = video.full.trim(small, Box(0, 0, *small.shape[:2]))
    banded = video.band.trim(small, band)
    views = [cut(trimmed, Box(0, 0, *small.shape[:2])), cut(banded, band)]
    views += [views[0][:, ::-1], views[1][:, ::-1]]
    boxes = video.edges.boxes(small, grey)
    boxes += video.edges.settled(boxes)
    window = video.windows.choose(boxes, small.shape, video.edges.changes())
    inset = None
    if window is not None:
        # The window's edges to the line on the detailed copy, inside its border line; its
        # bars are trimmed on the small lines that lie wholly inside.
        exact = video.edges.outline(grey, _scaled(window, scale))
        within = _within(exact, scale)
        if within.height >= 8 and within.width >= 8:
            inset = video.inset.trim(small, within)
            views.append(_view(_refined(grey, _trimmed(exact, within, inset, scale), exact)))
    if inset is None:
        views.append(np.zeros_like(views[0]))
    hashes, qualities = pdq_views(np.stack(views))
    if inset is None:
        qualities[View.INSET] = 0
    return hashes, qualities


def _window(boxes: list[Box], shape: tuple[int, ...]) -> Box | None:
    """The frame's best guess at a window: the largest box clear of the frame's borders, else
    the largest that spans neither the whole width nor the whole height, else the largest.
    Over footage with long straight edges (a horizon, a wall, a screenshot) the largest
    outlines are pieces of the background that reach the border; a window sits inside."""
    return min(boxes, key=lambda b: _rank(b, shape), default=None)


def _rank(box: Box, shape: tuple[int, ...]) -> tuple[int, int, int]:
    height, width = shape[:2]
    margin = 2
    inside = (
        box.top > margin
        and box.left > margin
        and box.bottom < height - margin
        and box.right < width - margin
    )
    strip = (box.left == 0 and box.right == width) or (box.top == 0 and box.bottom == height)
    return (0 if inside else 1 if not strip else 2, 0, -box.height * box.width)


class VideoState:
    """What is followed over the frames of one video: its bars (per view) and its window."""

    def __init__(self, memory: int = TRIM_MEMORY) -> None:
        self.full = BarTracker(memory)
        self.band = BarTracker(memory)
        self.inset = BarTracker(memory)
        self.windows = WindowTracker(WINDOW_MEMORY if memory > 1 else 1)
        self.edges = EdgeMemory(EDGE_MEMORY if memory > 1 else 1)


class EdgeMemory:
    """The outlines of the mean of the last frames, and a window's edges to the line.

    A window's outline is a step between the window and the footage around it; on a given
    frame some of it is lost (a white frame line against a bright sky, the window's black bars
    against a dark shot) and the footage adds long edges that run on from it, so the outline
    of one frame is often no rectangle. Over a second the footage moves and the window does
    not: in the mean of the last EDGE_MEMORY frames, moving edges blur away while the window's
    outline stays sharp, and whole.
    """

    def __init__(self, memory: int = EDGE_MEMORY) -> None:
        self._small = _RunningMean(memory)
        self._detail = _RunningMean(memory)
        # The absolute change of each small pixel between consecutive frames, over the last
        # frames, in a ring (the order of frames matters to no one reading it).
        self._changes: np.ndarray | None = None
        self._count = 0
        self._previous: np.ndarray | None = None
        # The sum of the changes in the ring, per pixel (`settled`).
        self._total: np.ndarray | None = None
        # The outlines of the mean frame past the WINDOW_CANDIDATES returned (`settled`).
        self._others: list[Box] = []

    def changes(self) -> np.ndarray | None:
        """(frames, height, width) changes of the small copy between consecutive frames over
        the last frames (in no particular order), or None before there are three."""
        if self._changes is None or self._count < 3:
            return None
        return self._changes[: min(self._count, len(self._changes))]

    def boxes(self, small: np.ndarray, grey: np.ndarray) -> list[Box]:
        """The outlines of the mean frame, this one included (`_outlines`)."""
        self._small.add(small)
        self._detail.add(grey)
        if self._previous is None or self._previous.shape != small.shape:
            self._changes = np.zeros((max(1, self._small.memory - 1), *small.shape), np.uint8)
            self._total = np.zeros(small.shape, np.int32)
            self._count = 0
        else:
            assert self._changes is not None and self._total is not None
            slot = self._changes[self._count % len(self._changes)]
            self._total -= slot
            cv2.absdiff(small, self._previous, slot)
            self._total += slot
            self._count += 1
        self._previous = small
        boxes = _outlines(self._small.mean())
        self._others = boxes[WINDOW_CANDIDATES:]
        return boxes[:WINDOW_CANDIDATES]

    def settled(self, boxes: list[Box]) -> list[Box]:
        """Windows inside outlines of the mean frame (`boxes`, then the others found) that hold
        a strip of the footage besides (`_settled`).

        Over footage with an edge along nearly every line (a checkerboard panned along its
        rows) the window's top edge and sides run on into the footage, and the outlines they
        make with a line of the footage below are found, the window's own not: such an outline
        moves with the footage on one side (`_footage_between`). Where the change of the last
        frames steps on that side (the footage changing outside, the window's still border or
        own picture inside) is the window's side."""
        changes = self.changes()
        if changes is None or self._total is None:
            return []
        total = self._total.astype(np.float32) / len(changes)
        found = []
        for box in [*boxes, *self._others][:SETTLE_CANDIDATES]:
            inner = _settled(box, total, changes)
            if inner is not None and inner not in boxes and inner not in found:
                found.append(inner)
        return found

    def outline(self, grey: np.ndarray, box: Box) -> Box:
        """`box` (on the detailed copy `grey`, as found on the small copy) with each side
        moved to the strongest step of the mean frame within OUTLINE_REACH small lines, then
        inside the flat lines of a border line drawn round the window.

        An edge found on the small copy is a line or two off, and moves from frame to frame
        with the footage around it; one line of the small copy is 2-3% of a window, and PDQ
        moves 30-70 bits when a picture shifts that much. The mean frame's step is where the
        window's outline stays."""
        mean = self._detail.mean()
        reach = OUTLINE_REACH * max(1, round(max(grey.shape) / FRAME_SIDE))
        edges = list(_edges(box))
        for side in range(4):
            rows = side % 2 == 0
            lines, along = (mean, grey) if rows else (mean.T, grey.T)
            low, high = (box.left, box.right) if rows else (box.top, box.bottom)
            # The middle of the side: its corners run into the footage around the window.
            margin = (high - low) // 10
            span = slice(low + margin, max(low + margin + 1, high - margin))
            # Boundaries b (between lines b - 1 and b) near the edge, and their mean step.
            first = max(1, edges[side] - reach)
            last = min(len(lines) - 1, edges[side] + reach)
            if last <= first:
                continue
            strip = lines[first - 1 : last + 1, span].astype(np.float32)
            step = np.abs(np.diff(strip, axis=0)).mean(axis=1)
            edge = first + int(np.argmax(step))
            inward = 1 if side < 2 else -1
            inner = edge if side < 2 else edge - 1
            # A border line drawn round the window is flat: the picture starts inside it.
            for _ in range(reach):
                if not 0 <= inner < len(along):
                    break
                low_value, high_value = _quantiles(along[inner, span][None], (OVERLAY, 1 - OVERLAY))
                if int(high_value[0]) - int(low_value[0]) > BAR_SPREAD:
                    break
                inner += inward
            edges[side] = inner if side < 2 else inner + 1
        top, left, bottom, right = edges
        if bottom - top < 8 or right - left < 8:
            return box
        return Box(top, left, bottom, right)


def _outlines(small: np.ndarray) -> list[Box]:
    """The WINDOW_CANDIDATES outlines of a frame most likely to be a window: clear of the
    borders first, then largest. With edges shared with the footage (`edge_boxes(shared=
    True)`) the largest outlines are mostly pieces of the background that reach the border."""
    # A small outline is a window only clear of the borders: one that reaches a border is a
    # piece of the picture between bars (a squeezed, pillarboxed picture's half, cut by an
    # edge of its own), and the window found there stands in for the trimmed frame.
    height, width = small.shape[:2]
    least = BORDER_WINDOW_MIN_AREA * height * width

    def place(box: Box) -> int:
        # `_rank`'s place, and 3 for a small outline that reaches a border (called for every
        # outline of every frame: written out).
        if box.top > 2 and box.left > 2 and box.bottom < height - 2 and box.right < width - 2:
            return 0
        if (box.bottom - box.top) * (box.right - box.left) < least:
            return 3
        strip = (box.left == 0 and box.right == width) or (box.top == 0 and box.bottom == height)
        return 2 if strip else 1

    # Outlines clear of the borders are kept first: over busy footage the largest sixteen
    # were all pieces of the background reaching a border, and a window a third of the
    # frame's width (7% of its area) was not among them for seconds.
    boxes = edge_boxes(
        small, WINDOW_MIN_AREA, limit=4 * WINDOW_CANDIDATES, shared=True, key=place
    )
    boxes = [b for b in boxes if place(b) < 3]
    return sorted(boxes, key=lambda b: _rank(b, small.shape))


class _RunningMean:
    """The mean of the last frames of one size (a size change starts anew)."""

    def __init__(self, memory: int) -> None:
        self._frames: deque[np.ndarray] = deque(maxlen=memory)
        self._sum: np.ndarray | None = None

    def add(self, frame: np.ndarray) -> None:
        if self._sum is None or self._sum.shape != frame.shape:
            self._frames.clear()
            self._sum = np.zeros(frame.shape, np.int32)
        if len(self._frames) == self._frames.maxlen:
            self._sum -= self._frames[0]
        self._frames.append(frame)
        self._sum += frame

    @property
    def memory(self) -> int:
        return self._frames.maxlen or 1

    def mean(self) -> np.ndarray:
        assert self._sum is not None
        return (self._sum // len(self._frames)).astype(np.uint8)


class BarTracker:
    """The bars of a video: flat lines at its edges that stay from frame to frame.

    Content makes flat lines too (a dark ceiling, a plain wall at the top of a shot), and one
    frame trims them, the next does not, so the views of neighbouring frames (and of a copy
    whose frame starts elsewhere) would be cut differently. A bar is on every frame, and the
    same on every frame: trimming stops at the first line that changed since STATIC_LAG frames
    before (horizontal stripes of a moving fabric are flat rows too), and each side is
    trimmed by a low quantile (TRIM_QUANTILE) of what the last `memory` frames trimmed on it.
    """

    def __init__(self, memory: int) -> None:
        self._recent: deque[tuple[int, int, int, int]] = deque(maxlen=memory)
        self._outer: Box | None = None
        self._frames: deque[np.ndarray] = deque(maxlen=STATIC_LAG if memory > 1 else 1)

    def trim(self, small: np.ndarray, outer: Box) -> Box:
        inner = _trim(small, outer)
        margins = [
            inner.top - outer.top,
            inner.left - outer.left,
            outer.bottom - inner.bottom,
            outer.right - inner.right,
        ]
        old = self._frames[0] if len(self._frames) == STATIC_LAG else None
        self._frames.append(small)
        if old is not None and old.shape == small.shape:
            # Per line, from the outside in: the mean change since the old frame.
            change = np.abs(outer.crop(small).astype(np.int16) - outer.crop(old))
            rows, cols = change.mean(axis=1), change.mean(axis=0)
            lines = (rows, cols, rows[::-1], cols[::-1])
            for side, line in enumerate(lines):
                # The outline a window was found by may take in a line or two of the footage
                # around it: those may change.
                moved = np.flatnonzero(line[: margins[side]] > STATIC_CHANGE)
                moved = moved[moved >= OUTLINE_SLACK]
                if len(moved):
                    margins[side] = int(moved[0])
        # A window that moved is another picture: its bars start anew.
        if self._outer is None or np.abs(np.subtract(_edges(outer), _edges(self._outer))).max() > 2:
            self._recent.clear()
            self._outer = outer
        self._recent.append(margins)
        ordered = np.sort(np.array(self._recent), axis=0)
        top, left, bottom, right = ordered[int(TRIM_QUANTILE * (len(ordered) - 1))].tolist()
        return Box(outer.top + top, outer.left + left, outer.bottom - bottom, outer.right - right)


class WindowTracker:
    """The window of a video shown inside other footage, followed over its frames.

    A window keeps its place while the footage around it moves, and its outline is lost on
    some frames (where its dark bars meet dark footage, or a busy background hides it among
    other outlines). So the window of a frame is, among the outlines found now (on the mean of
    the last frames, `EdgeMemory`) and the window of the frames before, one found on at least
    WINDOW_PERSISTENCE of the last WINDOW_MEMORY frames (clear of the borders first, then the
    one found most often lately, at the median place it was found at); when none is, the
    window of the frames before if it was clear of the borders, else the best guess among the
    outlines found now (`_window`).
    """

    def __init__(self, memory: int = WINDOW_MEMORY) -> None:
        self._recent: deque[np.ndarray] = deque(maxlen=memory)
        self._last: Box | None = None
        # The window before `_last`: its outline, jittering over busy footage, may be found
        # within WINDOW_JITTER on fewer frames than that of a picture inside it for a while,
        # and still be the window (`_picture_between`).
        self._before: Box | None = None
        # Frames since the window of the frames before was last looked at for footage.
        self._unchecked = 0

    @property
    def following(self) -> bool:
        """Whether a window clear of the borders is followed."""
        return self._last is not None

    def choose(
        self, boxes: list[Box], shape: tuple[int, ...], changes: np.ndarray | None = None
    ) -> Box | None:
        """The window among `boxes` (found on this frame). `changes` (`EdgeMemory.changes`)
        tell a window from an outline of the footage (`_moves_with_footage`) and from a
        larger outline that holds it and a strip of the footage (`_footage_between`)."""
        self._recent.append(np.array([_edges(b) for b in boxes], np.int32).reshape(-1, 4))
        frames = len(self._recent)
        seen = np.concatenate(list(self._recent))
        owner = np.repeat(np.arange(frames), [len(r) for r in self._recent])
        tolerance = WINDOW_JITTER
        candidates = [*boxes, *(b for b in (self._last, self._before) if b is not None)]
        needed = max(min(3, self._recent.maxlen or 3), WINDOW_PERSISTENCE * frames)
        ranked = []
        for box in candidates:
            near = np.abs(seen - np.array(_edges(box))).max(axis=1) <= tolerance
            count = len(np.unique(owner[near]))
            if count >= needed:
                place, _, area = _rank(box, shape)
                # Ranked by how often it was found lately: the outline of bars inside the
                # window (a letterboxed shot) or of still footage next to it is found for a
                # while, then the window's own outline again.
                lately = len(np.unique(owner[near & (owner >= frames - WINDOW_LATELY)]))
                # The box is where the outlines near it were found most (the median of each
                # edge): one frame's outline is a line or two off, and the window's view is
                # cut along these edges (`EdgeMemory.outline` moves them by two lines at most).
                middle = Box(*np.median(seen[near], axis=0).round().astype(int).tolist())
                ranked.append(((place, -lately, area), middle))
        # A box drawn in the footage, or outlined by lines of it that stay put, is found as
        # often as the window: its picture changes with the footage around it, the window's
        # apart from it. Such a box comes after the others, and does not replace the window
        # of the frames before. (Not looked at when the window stays what it was.)
        check = changes is not None and any(box != self._last for _, box in ranked)
        ranked = [
            (
                (
                    key[0],
                    int(check and not key[0] and _moves_with_footage(box, changes)),
                    *key[1:],
                ),
                box,
            )
            for key, box in ranked
        ]
        ranked.sort(key=lambda item: item[0])
        chosen = ranked[0][1] if ranked else None
        # A line of the footage that stays put (a wall's edge under a pan along it), and the
        # window's own edges running on to it, outline the window and a strip of footage:
        # found as often as the window, and larger. The strip moves with the footage.
        for _ in range(len(ranked) if changes is not None and chosen is not None else 0):
            assert chosen is not None and changes is not None
            inner = next(
                (
                    box
                    for (place, *_), box in ranked
                    if not place and box != chosen and _footage_between(chosen, box, changes)
                ),
                None,
            )
            if inner is None:
                break
            chosen = inner
        if check and chosen is not None and not _rank(chosen, shape)[0]:
            # The outline of a picture inside the window (a pillarboxed shot's edge, a line of
            # the video that stays put) is found more often than the window's own outline
            # over busy footage: the strip between them changes with the window's picture.
            assert changes is not None
            outer = next(
                (
                    box
                    for (place, *_), box in ranked
                    if not place and box != chosen and _picture_between(box, chosen, changes)
                ),
                None,
            )
            chosen = outer or chosen
        footage = any(box == chosen and key[1] for key, box in ranked)
        self._unchecked += 1
        if (
            self._last is not None
            and changes is not None
            and (chosen is None or chosen == self._last)
            and self._unchecked >= WINDOW_LATELY
        ):
            # The window of the frames before may have been taken before the footage had
            # moved enough to tell: looked at again once a second while it stands in.
            self._unchecked = 0
            if _moves_with_footage(self._last, changes):
                self._last = None
        if (chosen is None or _rank(chosen, shape)[0] or footage) and self._last is not None:
            # A window clear of the borders stays the window until another one is found as
            # often: its outline can be lost for seconds over dark or busy footage.
            chosen = self._last
        if chosen is not None and footage and self._last is None:
            # No window yet: the best guess among the outlines found now other than this one
            # (the window's own outline is found before it has been found often enough).
            others = [b for b in boxes if np.abs(np.subtract(_edges(b), _edges(chosen))).max() > 2]
            chosen = _window(others, shape) or chosen
        if chosen is None:
            return _window(boxes, shape)
        if not _rank(chosen, shape)[0] and not footage:
            if self._last is not None and chosen != self._last:
                self._before = self._last
            self._last = chosen
        return chosen


def _footage_between(outer: Box, inner: Box, changes: np.ndarray) -> bool:
    """Whether `inner`, within `outer` with three sides in common, is the window and the strip
    between them a piece of the footage around it (`_strip_correlations`): the strip changes
    with the footage past its ends (FOOTAGE_CORRELATION), and more than with the window."""
    found = _strip_correlations(outer, inner, changes)
    if found is None or min(found[:2]) < STRIP_CHANGE:
        # A strip that does not change (the bars of a pillarboxed picture inside the window)
        # says nothing of where it belongs.
        return False
    return found[2] >= FOOTAGE_CORRELATION and found[2] > found[3]


def _picture_between(outer: Box, inner: Box, changes: np.ndarray) -> bool:
    """Whether `outer`, holding `inner` with three sides in common, is the window and `inner`
    the outline of a part of its picture: the strip between them changes with the picture of
    `inner` next to it (FOOTAGE_CORRELATION), and more than with the footage past its ends."""
    found = _strip_correlations(outer, inner, changes)
    if found is None:
        return False
    strip, footage, with_footage, with_picture = found
    if strip < STRIP_CHANGE:
        # A still strip (bars inside the window, a still part of its picture): the larger
        # outline, as when both are found as often; its bars are trimmed.
        return True
    if footage < STRIP_CHANGE:
        # Still footage around a strip that changes: the strip is no part of it.
        return True
    return with_picture >= PICTURE_CORRELATION and with_picture > with_footage


def _strip_correlations(
    outer: Box, inner: Box, changes: np.ndarray
) -> tuple[float, float, float, float] | None:
    """For `inner` within `outer` with three sides in common, how the strip between them
    changes: its correlation with the footage around `outer`, and with the band of `inner`.

    A window's picture changes apart from the footage around it; a strip of footage changes
    with the footage it runs on into beyond the outline. So the change from frame to frame
    of the strip (mean absolute difference, per frame) is compared with that of the footage
    just past both ends of the strip and with that of the band of `inner` next to it: the
    strip is footage when it correlates with the first (FOOTAGE_CORRELATION), and more than
    with the second. None when the outlines are not so nested or the strip or the footage does
    not change."""
    a, b = _edges(outer), _edges(inner)
    moved = [side for side in range(4) if abs(a[side] - b[side]) > WINDOW_JITTER + 1]
    if len(moved) != 1 or abs(a[moved[0]] - b[moved[0]]) <= WINDOW_JITTER + 1:
        return None
    if (b[moved[0]] > a[moved[0]]) != (moved[0] < 2):
        return None
    side = moved[0]
    stack = changes
    if side % 2:
        # Columns as rows: a strip along a left or right side is handled as one along a top
        # or bottom side.
        stack = stack.transpose(0, 2, 1)
        a, b = (a[1], a[0], a[3], a[2]), (b[1], b[0], b[3], b[2])
    side -= side % 2
    length = stack.shape[2]
    # The strip's lines, the outline's own lines left out when it is wide enough.
    near, far = sorted((a[side], b[side]))
    if far - near >= 3:
        near, far = near + 1, far - 1
    width = far - near
    # The band of the window next to the strip, as wide, and the footage past the strip's
    # ends (beyond the other two sides of `outer`).
    into = b[side] + 1 if side == 0 else b[side] - 1 - width
    into = max(b[0], min(into, b[2] - width))
    reach = max(4, width)
    outside = [
        stack[:, near:far, max(0, a[1] - 1 - reach) : max(0, a[1] - 1)],
        stack[:, near:far, min(length, a[3] + 1) : min(length, a[3] + 1 + reach)],
    ]
    outside = [o for o in outside if o.size]
    if not outside or width <= 0 or into < 0:
        return None

    def change(*parts: np.ndarray) -> np.ndarray:
        return sum(p.sum(axis=(1, 2), dtype=np.float64) for p in parts) / sum(
            p[0].size for p in parts
        )

    strip = change(stack[:, near:far, b[1] : b[3]])
    footage = change(*outside)
    window = change(stack[:, into : into + width, b[1] : b[3]])
    return (
        float(strip.mean()),
        float(footage.mean()),
        _correlation(strip, footage),
        _correlation(strip, window),
    )


def _settled(box: Box, total: np.ndarray, changes: np.ndarray) -> Box | None:
    """The window inside `box` when three of its sides are the window's and the fourth lies
    on footage: that side moved inwards to the largest step of the mean change `total` (per
    pixel, over `changes`), as long as the strip between is footage (`_footage_between`)."""
    edges = _edges(box)
    if min(edges[:2]) < SETTLE_LINES or edges[2] > total.shape[0] - SETTLE_LINES:
        return None
    if edges[3] > total.shape[1] - SETTLE_LINES:
        return None
    lines = SETTLE_LINES

    def profile(side: int, depth: int) -> np.ndarray:
        # From the outside in: SETTLE_LINES lines past the side, then `depth` of the box's.
        stack = total if side % 2 == 0 else total.T
        low, high = (box.left, box.right) if side % 2 == 0 else (box.top, box.bottom)
        margin = (high - low) // 10
        edge = edges[side]
        if side < 2:
            return stack[edge - lines : edge + depth, low + margin : high - margin].mean(axis=1)
        return stack[edge - depth : edge + lines, low + margin : high - margin].mean(axis=1)[::-1]

    moving = []
    for side in range(4):
        near = profile(side, lines)
        if near[:lines].mean() - near[lines:].mean() < SETTLE_STEP:
            moving.append(side)
            if len(moving) > 1:
                return None
    if len(moving) != 1:
        return None
    side = moving[0]
    depth = (box.bottom - box.top) if side % 2 == 0 else (box.right - box.left)
    steps = profile(side, depth)
    # Step between line k - 1 (outside) and k (inside), k past the side by more than the
    # jitter of an outline, leaving the window at least a quarter of the box.
    cumulative = np.concatenate(([0.0], np.cumsum(steps)))
    span = len(steps) - lines
    ks = np.arange(2 * lines + WINDOW_JITTER + 1, lines + span * 3 // 4)
    if not len(ks):
        return None
    outside = (cumulative[ks] - cumulative[ks - lines]) / lines
    inside = (cumulative[ks + lines] - cumulative[ks]) / lines
    best = int(np.argmax(outside - inside))
    if outside[best] - inside[best] < SETTLE_STEP:
        return None
    moved = int(ks[best]) - lines
    inner = list(edges)
    inner[side] += moved if side < 2 else -moved
    found = Box(*inner)
    if not _footage_between(box, found, changes):
        return None
    return found


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    if a.std() == 0 or b.std() == 0:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


def _moves_with_footage(box: Box, changes: np.ndarray) -> bool:
    """Whether the picture just inside `box` changes with the footage just outside it, on
    any side: frame by frame, the mean change of a band inside and of one outside the middle
    of a side correlate (FOOTAGE_CORRELATION). A window's picture changes apart from the
    footage around it; a box drawn in panning footage moves with it."""
    lines, length = changes.shape[1:]
    width = OUTLINE_SLACK + 1
    middle_rows = slice(box.top + box.height // 10, box.bottom - box.height // 10)
    middle_cols = slice(box.left + box.width // 10, box.right - box.width // 10)
    bands = []
    for side, edge in enumerate(_edges(box)):
        # Inside first, then outside; the outline's own line left out.
        inward = 1 if side < 2 else -1
        near, far = edge + inward, edge + inward * (1 + width)
        out_near, out_far = edge - inward * 2, edge - inward * (2 + width)
        limit = lines if side % 2 == 0 else length
        spans = [tuple(sorted((near, far))), tuple(sorted((out_near, out_far)))]
        if min(min(span) for span in spans) < 0 or max(max(span) for span in spans) > limit:
            continue
        for low, high in spans:
            rows, cols = (
                (slice(low, high), middle_cols)
                if side % 2 == 0
                else (middle_rows, slice(low, high))
            )
            bands.append(changes[:, rows, cols].mean(axis=(1, 2)))
    for inside, outside in zip(bands[::2], bands[1::2], strict=True):
        if min(inside.mean(), outside.mean()) < STRIP_CHANGE:
            continue
        if _correlation(inside, outside) >= FOOTAGE_CORRELATION:
            return True
    return False


def _refined(grey: np.ndarray, box: Box, trimmed: Box) -> np.ndarray:
    """The crop of `box` (bars trimmed from `trimmed` on the small copy, both scaled to
    `grey`) with its trimmed edges re-found on the detailed copy. One line of the FRAME_SIDE
    copy is 2-3% of a window, and PDQ moves 30-70 bits when a picture shifts that much; so
    each edge that was trimmed moves to the first line that is not bar among the lines one
    small line spans on either side of it."""
    slack = max(1, math.ceil(max(grey.shape) / FRAME_SIDE))
    edges = [box.top, box.left, box.bottom, box.right]
    # Per side: the lines from just outside the edge inwards, as rows of an array.
    pairs = zip(_edges(box), _edges(trimmed), strict=True)
    for side, (start, limit) in enumerate(pairs):
        inward = side < 2
        if start == limit:
            continue
        first = start - slack if inward else start + slack - 1
        count = 2 * slack
        step = 1 if inward else -1
        index = np.clip(first + step * np.arange(count), 0, grey.shape[side % 2] - 1)
        span = slice(box.left, box.right) if side % 2 == 0 else slice(box.top, box.bottom)
        lines = grey[index, span] if side % 2 == 0 else grey[span, index].T
        low, middle, high = _quantiles(lines, (OVERLAY, 0.5, 1 - OVERLAY))
        bar = (high - low <= BAR_SPREAD) & (np.abs(middle - middle[0]) <= BAR_SPREAD)
        if not bar[0]:
            continue
        run = int(np.argmin(bar)) if not bar.all() else count
        edges[side] = int(first + step * run) + (0 if inward else 1)
    top, left, bottom, right = edges
    return grey[top : max(top + 1, bottom), left : max(left + 1, right)]


def _quantiles(lines: np.ndarray, shares: tuple[float, ...]) -> list[np.ndarray]:
    # Per line (row), the values at these shares of its sorted values, as `border_box` takes
    # them (np.quantile costs more in overhead than the sort on lines this short).
    ordered = np.sort(lines, axis=1).astype(np.int16)
    count = ordered.shape[1]
    return [ordered[:, min(count - 1, int(q * count))] for q in shares]


def _within(box: Box, scale: tuple[float, float]) -> Box:
    """The lines of the small copy that lie wholly inside `box` of the detailed copy."""
    sy, sx = scale
    return Box(
        math.ceil(box.top / sy - 1e-6),
        math.ceil(box.left / sx - 1e-6),
        math.floor(box.bottom / sy + 1e-6),
        math.floor(box.right / sx + 1e-6),
    )


def _trimmed(exact: Box, within: Box, inset: Box, scale: tuple[float, float]) -> Box:
    """The window `exact` (detailed copy) with the sides whose bars were trimmed (from the
    small lines `within` to `inset`) at the trimmed edge: `_refined` re-finds those on the
    detailed copy, and keeps the others."""
    scaled = _scaled(inset, scale)
    return Box(
        *(
            edge if kept == before else moved
            for edge, kept, before, moved in zip(
                _edges(exact), _edges(inset), _edges(within), _edges(scaled), strict=True
            )
        )
    )


def _edges(box: Box) -> tuple[int, int, int, int]:
    return box.top, box.left, box.bottom, box.right


def _trim(small: np.ndarray, box: Box) -> Box:
    # Bars of a video are the same on every frame, and logos or tickers drawn over them are
    # common, so a bar line may be covered by something else over OVERLAY of its length.
    inner = border_box(box.crop(small), overlay=OVERLAY, flat=BAR_SPREAD, min_keep=BAR_KEEP)
    return Box(
        box.top + inner.top, box.left + inner.left, box.top + inner.bottom, box.left + inner.right
    )


def _scaled(box: Box, scale: tuple[float, float]) -> Box:
    sy, sx = scale
    top, left = math.floor(box.top * sy), math.floor(box.left * sx)
    bottom = max(top + 1, math.ceil(box.bottom * sy))
    right = max(left + 1, math.ceil(box.right * sx))
    return Box(top, left, bottom, right)


def _view(grey: np.ndarray) -> np.ndarray:
    return cv2.resize(grey, (HASH_SIDE, HASH_SIDE), interpolation=cv2.INTER_AREA)


def _fit(width: int, height: int, side: int) -> tuple[int, int]:
    scale = min(1.0, side / max(width, height, 1))
    return max(8, round(width * scale)), max(8, round(height * scale))


class RobustVideoConsumer:
    """Samples frames on the vPDQ clock and hashes their views."""

    def __init__(self, info: VideoInfo, options: HashOptions) -> None:
        self._rate = info.fps if info.fps and math.isfinite(info.fps) else None
        self._slot = -1
        self._reformatter = VideoReformatter()
        self._video = VideoState()
        self._seconds: list[float] = []
        self._hashes: list[np.ndarray] = []
        self._qualities: list[np.ndarray] = []

    def accept(self, frame: VideoFrame) -> None:
        # The first frame at or after each 1/FRAMES_PER_SECOND instant: every frame of
        # ordinary videos, the same instants whatever the frame rate.
        rate = self._rate or _FALLBACK_RATE
        slot = math.floor(frame.index * FRAMES_PER_SECOND / rate + 1e-9)
        if slot == self._slot:
            return
        self._slot = slot
        width, height = _fit(frame.width, frame.height, DETAIL_SIDE)
        grey = self._reformatter.reformat(
            frame.av_frame, format="gray", width=width, height=height, interpolation="AREA"
        ).to_ndarray()
        hashes, qualities = frame_views(grey, self._video)
        self._seconds.append(frame.index / self._rate if self._rate else frame.seconds)
        self._hashes.append(hashes)
        self._qualities.append(qualities)

    def finish(self) -> RobustVideo:
        if not self._seconds:
            return RobustVideo(
                np.zeros(0, np.float32),
                np.zeros((0, VIEWS, 32), np.uint8),
                np.zeros((0, VIEWS), np.uint8),
            )
        return RobustVideo(
            np.array(self._seconds, np.float32), np.stack(self._hashes), np.stack(self._qualities)
        )


def _pack(value: RobustVideo) -> bytes:
    count = len(value.seconds)
    return b"".join(
        [
            _HEADER.pack(_FORMAT_VERSION, VIEWS, count),
            value.seconds.astype(">f4").tobytes(),
            value.qualities.astype(np.uint8).tobytes(),
            value.hashes.astype(np.uint8).tobytes(),
        ]
    )


def _unpack(data: bytes) -> RobustVideo:
    if len(data) < _HEADER.size:
        raise SignalFormatError("a vpdq-robust signal is too short to hold its header")
    version, views, count = _HEADER.unpack_from(data)
    if version != _FORMAT_VERSION or views != VIEWS:
        raise SignalFormatError(f"unsupported vpdq-robust format version {version}/{views}")
    expected = _HEADER.size + count * (4 + VIEWS + VIEWS * 32)
    if len(data) != expected:
        raise SignalFormatError(
            f"a vpdq-robust signal of {count} frames has {expected} bytes, got {len(data)}"
        )
    offset = _HEADER.size
    seconds = np.frombuffer(data, ">f4", count, offset).astype(np.float32)
    offset += count * 4
    qualities = np.frombuffer(data, np.uint8, count * VIEWS, offset).reshape(count, VIEWS)
    offset += count * VIEWS
    hashes = np.frombuffer(data, np.uint8, count * VIEWS * 32, offset).reshape(count, VIEWS, 32)
    if not np.isfinite(seconds).all() or (seconds < 0).any():
        raise SignalFormatError("vpdq-robust frame times must be finite and not negative")
    if qualities.size and qualities.max() > 100:
        raise SignalFormatError("a vpdq-robust quality is a whole number from 0 to 100")
    return RobustVideo(seconds, hashes.copy(), qualities.copy())


class RobustVpdqSignal(SignalType[RobustVideo]):
    name = "vpdq-robust"
    description = (
        "PDQ of trimmed, banded, mirrored and inset views of sampled frames, matched by "
        "aligned segments (catches letterboxed, mirrored, captioned, framed and cut copies)"
    )
    content_types = frozenset({ContentType.VIDEO})
    default_for = frozenset()
    matching_default_for = frozenset({ContentType.VIDEO})
    # On `Comparison.distance` = 1 - the larger coverage, as vPDQ; aligned segments of at
    # least MIN_SEGMENT_SECONDS match whatever the coverage (see the index).
    default_threshold = 0.2

    def video_consumer(self, info: VideoInfo, options: HashOptions) -> RobustVideoConsumer:
        return RobustVideoConsumer(info, options)

    def format(self, value: RobustVideo) -> str:
        return base64.b64encode(_pack(value)).decode("ascii")

    def parse(self, text: str) -> RobustVideo:
        if not isinstance(text, str):
            raise SignalFormatError("a vpdq-robust signal must be a base64 string")
        try:
            data = base64.b64decode(text.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise SignalFormatError("a vpdq-robust signal must be valid base64") from None
        return _unpack(data)

    def to_json(self, value: RobustVideo) -> dict[str, Any]:
        return {"hash": self.format(value), "frames": len(value)}

    def summary(self, value: RobustVideo) -> str:
        return f"frames={len(value)}"

    def weak(self, value: RobustVideo) -> bool:
        return not (value.qualities[:, View.FULL] >= 50).any() if len(value) else True

    def compare(self, a: RobustVideo, b: RobustVideo, threshold: float | None = None) -> Comparison:
        index = self.make_index(threshold)
        index.add(0, b)
        hits = index.query(a)
        if hits:
            return Comparison(True, hits[0].distance, hits[0].detail)
        return Comparison(False, 1.0, {"via": "none"})

    def make_index(self, threshold: float | None = None) -> RobustVideoIndex:
        from cordon.index.vpdq_robust import RobustVideoIndex

        return RobustVideoIndex(threshold=self.threshold(threshold))


SIGNAL = RobustVpdqSignal()
