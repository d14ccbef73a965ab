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
from cordon.media.normalize import Box
from cordon.signals import get_signal_type
from cordon.signals.vpdq_robust import OUTLINE_SLACK, STATIC_LAG, VideoState, WindowTracker
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
