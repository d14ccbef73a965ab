"""vpdq-robust over whole videos: every frame hashed, bars and windows followed over frames."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from cordon.hashing import hash_file
from cordon.index.vpdq_robust import RobustVideoIndex
from cordon.media.normalize import Box, edge_boxes
from cordon.signals import get_signal_type
from cordon.signals.pdq_robust import pdq_views
from cordon.signals.vpdq_robust import (
    OUTLINE_SLACK,
    STATIC_LAG,
    VideoState,
    View,
    WindowTracker,
    _settled,
    frame_views,
)
from tests.media_factory import photo_like
from tests.shared_data import INTEROP, require

ROBUST = get_signal_type("vpdq-robust")
# A phone video of a fabric, filmed by hand: neighbouring frames are 40-130 PDQ bits apart.
HANDHELD = INTEROP / "video" / "pattern-longer-no-bar.mp4"


def _frames(path: Path, size: tuple[int, int]) -> tuple[list[np.ndarray], float]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        rate = float(stream.average_rate or 30)
        frames = [
            f.to_ndarray(format="rgb24", width=size[0], height=size[1])
            for f in container.decode(stream)
        ]
    return frames, rate


def _write(path: Path, frames: list[np.ndarray], rate: float) -> Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(rate).limit_denominator(1000))
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "28", "preset": "ultrafast"}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def _robust(path: Path):  # type: ignore[no-untyped-def]
    result = hash_file(path, [ROBUST])
    assert result.ok, result.error
    return result.signals["vpdq-robust"]


@pytest.fixture(scope="module")
def handheld(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    frames, rate = _frames(require(HANDHELD), (240, 426))
    folder = tmp_path_factory.mktemp("handheld")
    index = RobustVideoIndex()
    index.add(1, _robust(_write(folder / "reference.mp4", frames, rate)))
    return index, frames, rate, folder


def test_a_handheld_clip_cut_between_banked_instants_is_found(handheld) -> None:  # type: ignore[no-untyped-def]
    index, frames, rate, folder = handheld
    # Frame 61 is 1/30 s after a banked instant: the clip's own eighths of a second fall on
    # frames the reference did not bank, and this footage changes a lot within a frame.
    start = 61
    clip = _robust(_write(folder / "clip.mp4", frames[start : start + int(5 * rate)], rate))
    hits = index.query(clip)
    assert [h.key for h in hits] == [1]
    run = hits[0].detail["run"]
    assert abs(run["ref_start"] - start / rate) <= 0.5
    assert abs(run["ref_end"] - (start / rate + 5)) <= 0.5


def test_a_handheld_clip_as_a_window_over_panning_footage_is_found(handheld) -> None:  # type: ignore[no-untyped-def]
    index, frames, rate, folder = handheld
    start, count = 45, int(6 * rate)
    # Darker than the window's white frame line, so that its outline shows all round.
    scene = (np.asarray(photo_like(960 + 3 * count, 540, seed=11)) * 0.6).astype(np.uint8)
    out = []
    for k in range(count):
        canvas = np.ascontiguousarray(scene[:, 3 * k : 3 * k + 960]).copy()
        # The portrait video pillarboxed in a 16:9 window half the frame wide, framed by a
        # white line: as a reaction video shows it.
        window = np.zeros((270, 480, 3), np.uint8)
        window[:, 164:316] = cv2.resize(frames[start + k], (152, 270), interpolation=cv2.INTER_AREA)
        canvas[28:302, 438:922] = 255
        canvas[30:300, 440:920] = window
        out.append(canvas)
    clip = _robust(_write(folder / "window.mp4", out, rate))
    hits = index.query(clip)
    assert [h.key for h in hits] == [1]
    assert hits[0].detail["via"] == "inset"
    run = hits[0].detail["run"]
    assert abs(run["ref_start"] - start / rate) <= 1.0
    assert abs(run["ref_end"] - (start + count) / rate) <= 1.0


def _stripes(k: int) -> np.ndarray:
    """A pillarboxed picture of wide horizontal stripes scrolling up: every row is flat."""
    frame = np.zeros((108, 192), np.uint8)
    rows = (np.arange(108) + 4 * k) // 18 % 2
    frame[:, 40:152] = np.where(rows[:, None] == 1, 170, 90)
    return frame


def test_flat_rows_that_move_are_picture_and_bars_that_stay_are_trimmed() -> None:
    whole = Box(0, 0, 108, 192)
    # One frame alone takes the flat rows at the top for a bar.
    assert VideoState(memory=1).full.trim(_stripes(0), whole).top > 0
    video = VideoState()
    boxes = [video.full.trim(_stripes(k), whole) for k in range(4 * STATIC_LAG)]
    assert all(b.left == 40 and b.right == 152 for b in boxes)
    # Once the rows are seen to change, at most the outline's slack of them is trimmed.
    settled = boxes[-STATIC_LAG:]
    assert all(b.top <= OUTLINE_SLACK and b.bottom >= 108 - OUTLINE_SLACK for b in settled)


def test_a_window_is_kept_while_its_outline_is_lost_and_the_footage_pans() -> None:
    shape = (108, 192)
    window = Box(10, 100, 60, 180)
    tracker = WindowTracker()
    chosen = []
    for k in range(120):
        # Panning footage gives large outlines that drift a pixel a frame; the window's own
        # outline is found on two frames in three, and not at all from frame 60 to 90.
        drifting = Box(5 + k % 40, 3, 90 + k % 15, 150)
        boxes = [drifting] + ([window] if k % 3 and not 60 <= k < 90 else [])
        chosen.append(tracker.choose(boxes, shape))
    assert all(c == window for c in chosen[10:])


def _inset_distance(frame: np.ndarray, video: VideoState, picture: np.ndarray) -> int:
    """Bits between the frame's window view and the PDQ of the picture shown in the window
    (256 when no window view was made)."""
    hashes, qualities = frame_views(frame, video)
    view = cv2.resize(picture, (64, 64), interpolation=cv2.INTER_AREA)
    truth, _ = pdq_views(view[None])
    inset = np.unpackbits(hashes[View.INSET] ^ truth[0]).sum()
    return int(inset) if qualities[View.INSET] else 256


def _bright_scene(width: int, height: int, seed: int) -> np.ndarray:
    # Bright footage (grey 128-255): a white border line drawn round a window vanishes
    # against it in places.
    grey = np.asarray(photo_like(width, height, seed=seed).convert("L"), np.float32)
    return (255 - 0.5 * (255 - grey)).astype(np.uint8)


def _framed(
    k: int, scene: np.ndarray, content: np.ndarray, window: Box, bars: int
) -> np.ndarray:
    """Frame k (384x216) of a window showing `content` (letterboxed by `bars` rows) over
    panning bright footage, framed by a white line, under a dark title bar whose lower edge
    runs on from the line's top. The window's edges fall between lines of the half-size copy
    it is found on."""
    frame = np.ascontiguousarray(scene[:, 3 * k : 3 * k + 384]).copy()
    frame[: window.top - 2] = 40
    frame[window.top - 2 : window.bottom + 2, window.left - 2 : window.right + 2] = 255
    picture = content[2 * k : 2 * k + window.height, : window.width].copy()
    if bars:
        picture[:bars] = picture[-bars:] = 0
    frame[window.top : window.bottom, window.left : window.right] = picture
    return frame


@pytest.mark.parametrize(
    ("window", "letterboxed_first"),
    [
        (Box(25, 191, 143, 369), False),
        (Box(25, 191, 143, 369), True),
        # A third of the frame's width and height: 11% of its area.
        (Box(25, 241, 95, 369), False),
    ],
)
def test_a_window_over_bright_footage_is_cut_to_the_line(
    window: Box, letterboxed_first: bool
) -> None:
    count = 80
    scene = _bright_scene(384 + 3 * count, 216, seed=3)
    content = np.asarray(photo_like(window.width, window.height + 2 * count, seed=8).convert("L"))
    video = VideoState()
    distances = []
    for k in range(count):
        # With `letterboxed_first`, the window shows a letterboxed shot for 1.2 s first: the
        # outline of its bars is found for a while, then the whole window's again.
        bars = 20 if letterboxed_first and k < 30 else 0
        frame = _framed(k, scene, content, window, bars)
        picture = Box(window.top + bars, window.left, window.bottom - bars, window.right)
        distances.append(_inset_distance(frame, video, picture.crop(frame)))
    # The window's view is its picture to the line, from the first frames on: a picture cut
    # a line or two off (as the window's outline on the half-size copy is) is 30-60 bits away.
    # The bars trimmed are those of the last frames: they lag a cut by a frame or two.
    settled = [d for k, d in enumerate(distances) if k >= 5 and not 30 <= k < 33]
    assert max(settled) <= 16, distances


def test_a_narrow_pillarboxed_picture_cut_by_its_own_edge_is_not_taken_for_a_window() -> None:
    # A portrait picture squeezed and pillarboxed (18% of the width) whose top half is dark:
    # the edge across it outlines halves of it that reach the frame's borders. The window view
    # must stay the picture between the bars (it carries such copies where the trimmed frame
    # loses its bars), not one of its halves.
    count = 60
    texture = np.asarray(photo_like(70, 165 + 2 * count, seed=2).convert("L"))
    video = VideoState()
    distances = []
    for k in range(count):
        frame = np.zeros((165, 384), np.uint8)
        picture = texture[2 * k : 2 * k + 165].copy()
        picture[:80] = (picture[:80] * 0.4).astype(np.uint8)
        frame[:, 157:227] = picture
        distances.append(_inset_distance(frame, video, picture))
    # One of its halves is 110-170 bits away.
    assert np.median(distances[10:]) <= 32, distances


def test_edge_boxes_shared_finds_a_window_whose_edges_run_on_as_longer_lines() -> None:
    grey = np.full((108, 192), 150, np.uint8)
    grey[:20] = 30  # a title bar across the frame: its lower edge is the window's top
    grey[20:, :100] = 90  # a side panel below it: its edge is the window's left side
    grey[20:70, 100:180] = 230
    window = Box(20, 100, 70, 180)
    assert window not in edge_boxes(grey, limit=16)
    assert window in edge_boxes(grey, limit=16, shared=True)


def test_edge_boxes_of_a_square_picture_keep_rows_and_columns_apart() -> None:
    grey = np.full((200, 200), 128, np.uint8)
    grey[30:90, 50:170] = 30
    # Found by its top and bottom edges and by its two sides: the same box both times.
    assert edge_boxes(grey) == [Box(30, 50, 90, 170)]


def test_a_window_is_told_from_a_larger_outline_of_the_footage_by_how_it_changes() -> None:
    # An outline that stays put in footage panning behind it (a frame line drawn in the
    # scene) shares the window's top, bottom and right lines: found on every frame, like the
    # window, and larger. The footage inside it moves with the footage outside; the window's
    # picture (panning sideways) changes apart from both.
    count = 75
    scene = np.asarray(photo_like(384, 216 + 3 * count, seed=5).convert("L"))
    scene = (scene * 0.7).astype(np.uint8)
    content = np.asarray(photo_like(120 + 3 * count, 80, seed=9).convert("L"))
    window, drawn = Box(40, 220, 120, 340), Box(40, 160, 120, 340)
    video = VideoState()
    distances = []
    for k in range(count):
        # Uneven steps of 1 and 2 lines a frame, as a slow pan resampled to whole lines.
        shift = round(1.4 * k)
        frame = np.ascontiguousarray(scene[shift : shift + 216]).copy()
        for box in (drawn, window):
            frame[box.top - 2 : box.bottom + 2, box.left - 2 : box.right + 2] = 255
        frame[drawn.top : drawn.bottom, drawn.left : window.left - 2] = scene[
            shift + drawn.top : shift + drawn.bottom, drawn.left : window.left - 2
        ]
        picture = content[:, 3 * k : 3 * k + window.width]
        frame[window.top : window.bottom, window.left : window.right] = picture
        distances.append(_inset_distance(frame, video, picture))
    # The outline of the footage, taken for the window, is 100-160 bits away.
    assert np.median(distances[25:]) <= 16, distances


def test_a_window_is_found_inside_an_outline_closed_by_a_line_of_the_footage() -> None:
    # Footage with an edge on nearly every row (a checkerboard panned along its rows): the
    # window's top and sides run on into the footage, and the outline found is closed by a
    # row of the footage below the window. The change of the last frames steps where the
    # window's still border meets the footage; the strip below it changes with the footage.
    rng = np.random.default_rng(4)
    frames, height, width = 24, 108, 192
    window = Box(8, 120, 44, 184)
    footage = rng.uniform(6, 12, frames)
    picture = rng.uniform(1, 6, frames)
    changes = np.empty((frames, height, width), np.uint8)
    for k in range(frames):
        layer = footage[k] + rng.normal(0, 1, (height, width))
        layer[window.top : window.bottom, window.left : window.right] = 0
        inner = (slice(window.top + 4, window.bottom - 4), slice(window.left + 4, window.right - 4))
        layer[inner] = picture[k] + rng.normal(0, 1, layer[inner].shape)
        changes[k] = np.clip(layer, 0, 255).round()
    total = changes.sum(axis=0, dtype=np.float32) / frames
    found = _settled(Box(8, 120, 76, 184), total, changes)
    assert found is not None and abs(found.bottom - window.bottom) <= 1, found
    assert (found.top, found.left, found.right) == (8, 120, 184)
    # An outline of the footage alone (all four sides on footage) gives no window.
    assert _settled(Box(50, 20, 100, 110), total, changes) is None
