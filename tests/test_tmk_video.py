"""TMK+PDQF through the real decoder, on videos made at test time."""

from __future__ import annotations

import struct
from pathlib import Path

import av
import numpy as np
import pytest

from cordon.hashing import hash_file
from cordon.signals import get_signal_type
from cordon.signals.tmk import level1_score, level2_score

TMK = get_signal_type("tmk")


def _write_video(
    path: Path, frames: int, fps: int, flat: bool = False, turn: int = 0
) -> Path:
    """An MPEG-4 clip; `turn` stores its frames turned by quarter turns counterclockwise."""
    y, x = np.mgrid[0:120, 0:160].astype(np.float32)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        width, height = (120, 160) if turn % 2 else (160, 120)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(frames):
            t = i / fps
            if flat:
                grey = np.full_like(x, 90.0)
            else:
                # Fixed structure plus motion that depends on time only, so that the same
                # scene encoded at another frame rate shows the same picture at each instant.
                grey = 128 + 60 * np.sin(x / 11) * np.cos(y / 17) + 50 * np.sin(x / 7 + 2 * t)
            rgb = np.stack([grey, np.roll(grey, int(20 * t), axis=1), 255 - grey], axis=2)
            rgb = np.ascontiguousarray(np.rot90(rgb.clip(0, 255).astype(np.uint8), turn))
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tmk-videos")
    _write_video(folder / "clip30.mp4", 90, 30)
    _write_video(folder / "clip10.mp4", 30, 10)
    _write_video(folder / "flat.mp4", 30, 30, flat=True)
    return folder


def test_video_is_resampled_to_15fps_like_ffmpeg(made: Path) -> None:
    result = hash_file(made / "clip30.mp4", [TMK])
    assert result.error is None, result.error
    value = result.signals["tmk"]
    # 90 frames at 30 fps: the first four, then every other one (as ffmpeg -r 15 writes).
    assert value.frame_count == 4 + 43
    assert not TMK.weak(value)
    assert TMK.compare(value, value).matched


def test_slow_videos_have_frames_repeated(made: Path) -> None:
    value = hash_file(made / "clip10.mp4", [TMK]).signals["tmk"]
    assert 44 <= value.frame_count <= 46  # 3 s at 15 fps


def test_same_content_at_another_frame_rate_still_matches(made: Path) -> None:
    fast = hash_file(made / "clip30.mp4", [TMK]).signals["tmk"]
    slow = hash_file(made / "clip10.mp4", [TMK]).signals["tmk"]
    assert level1_score(fast, slow) > 0.9
    assert level2_score(fast, slow) > 0.7


def test_flat_video_hashes_and_is_weak(made: Path) -> None:
    value = hash_file(made / "flat.mp4", [TMK]).signals["tmk"]
    assert value.frame_count > 0
    assert TMK.weak(value)


def test_tmk_is_a_default_video_signal(made: Path) -> None:
    result = hash_file(made / "clip10.mp4")
    assert result.error is None and "tmk" in result.signals


def test_corrupt_video_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "broken.mp4"
    data = _write_video(tmp_path / "ok.mp4", 30, 30).read_bytes()
    bad.write_bytes(data[: len(data) // 3])
    result = hash_file(bad, [TMK])
    # Either the readable part hashes or the failure is one sentence, never a traceback.
    if result.error is not None:
        assert "\n" not in result.error and "Traceback" not in result.error
    else:
        assert result.signals["tmk"].frame_count >= 0


def _set_display_rotation(path: Path, target: Path) -> Path:
    """Copy an MP4 with its track matrix set to 'turn 90 degrees clockwise' (phone portrait)."""
    data = bytearray(path.read_bytes())
    box = data.index(b"tkhd")
    assert data[box + 4] == 0  # version 0 layout
    matrix = box + 4 + 4 + 4 * 5 + 8 + 2 * 4
    struct.pack_into(">9i", data, matrix, 0, 0x10000, 0, -0x10000, 0, 0, 0, 0, 0x40000000)
    target.write_bytes(bytes(data))
    return target


def test_rotated_videos_are_hashed_upright(tmp_path: Path) -> None:
    stored = _write_video(tmp_path / "stored.mp4", 45, 30)
    rotated = _set_display_rotation(stored, tmp_path / "rotated.mp4")
    with av.open(str(rotated)) as container:
        assert next(container.decode(video=0)).rotation == -90
    upright = _write_video(tmp_path / "upright.mp4", 45, 30, turn=-1)
    as_shown = hash_file(rotated, [TMK]).signals["tmk"]
    reference = hash_file(upright, [TMK]).signals["tmk"]
    as_stored = hash_file(stored, [TMK]).signals["tmk"]
    assert level2_score(as_shown, reference) > 0.95
    assert level2_score(as_stored, reference) < level2_score(as_shown, reference) - 0.2
