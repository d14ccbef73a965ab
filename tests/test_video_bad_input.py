"""Broken and hostile videos: one clear sentence for that file, bounded time, the batch goes on.

Every fixture is made here with PyAV (nothing binary is committed). A video that is only partly
decodable (cut short with its index first, or damaged in the middle) is hashed from the frames
that decode, as players show them; see `cordon.media.video.VideoDecoder.frames`.
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest

from cordon.hashing import HashResult, hash_file
from cordon.signals import HashOptions, get_signal_type

VPDQ = get_signal_type("vpdq")
SECONDS, FPS = 4, 10
# Every case must finish well within this, whatever the file claims.
TIME_LIMIT = 10.0


def make_video(path: Path, faststart: bool = False, seconds: int = SECONDS) -> Path:
    """A small mpeg4 video in mp4 with moving structure (PDQ needs some)."""
    options = {"movflags": "faststart"} if faststart else {}
    y, x = np.mgrid[0:120, 0:160]
    with av.open(str(path), "w", options=options) as out:
        stream = out.add_stream("mpeg4", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        for i in range(seconds * FPS):
            grey = (np.sin((x + 3 * i) / 9) + np.cos(y / 7 + i / 5)) * 60 + 128
            rgb = np.stack([grey, np.roll(grey, i, 1), 255 - grey], axis=2).astype(np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def make_audio_only(path: Path, container: str) -> Path:
    with av.open(str(path), "w", format=container) as out:
        stream = out.add_stream("aac", rate=44100)
        for _ in range(40):
            frame = av.AudioFrame.from_ndarray(
                np.zeros((1, 1024), dtype=np.float32), format="fltp", layout="mono"
            )
            frame.sample_rate = 44100
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def timed_hash(path: Path) -> HashResult:
    started = time.monotonic()
    result = hash_file(path, [VPDQ])
    assert time.monotonic() - started < TIME_LIMIT
    return result


def assert_one_sentence(result: HashResult, *words: str) -> None:
    assert result.error, "expected an error"
    assert result.signals == {}
    assert "\n" not in result.error and "Traceback" not in result.error
    assert len(result.error) < 200
    for word in words:
        assert word in result.error


@pytest.fixture()
def good(tmp_path: Path) -> Path:
    return make_video(tmp_path / "good.mp4")


@pytest.fixture()
def good_faststart(tmp_path: Path) -> Path:
    return make_video(tmp_path / "faststart.mp4", faststart=True)


def test_the_fixture_itself_hashes(good: Path) -> None:
    result = timed_hash(good)
    assert result.error is None
    assert [f.frame for f in result.signals["vpdq"].frames] == [0, 10, 20, 30]


def test_zero_byte_video(tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    assert_one_sentence(timed_hash(empty), "empty")


def test_truncated_video_without_its_index(good: Path, tmp_path: Path) -> None:
    # The mp4 muxer writes the index (moov) last: the first half has none.
    data = good.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    assert_one_sentence(timed_hash(cut), "not a decodable video")


def test_truncated_video_with_its_index_first_hashes_what_decodes(
    good_faststart: Path, tmp_path: Path
) -> None:
    data = good_faststart.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    result = timed_hash(cut)
    assert result.error is None
    partial = result.signals["vpdq"]
    full = hash_file(good_faststart, [VPDQ]).signals["vpdq"]
    assert 0 < len(partial) < len(full)
    assert partial.frames == full.frames[: len(partial)]
    # A truncated copy is still found: every frame it has is in the original.
    assert VPDQ.compare(partial, full).matched


def test_corrupt_bytes_in_the_middle(good_faststart: Path, tmp_path: Path) -> None:
    data = bytearray(good_faststart.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 300] = np.random.default_rng(1).bytes(300)
    damaged = tmp_path / "damaged.mp4"
    damaged.write_bytes(bytes(data))
    every_frame = HashOptions(fps=0)
    started = time.monotonic()
    result = hash_file(damaged, [VPDQ], every_frame)
    assert time.monotonic() - started < TIME_LIMIT
    # Damaged packets are skipped like players do, and the damage spreads to the next key
    # frame (1.2 s of this 4 s video); the intact frames still line up with the original.
    assert result.error is None
    full = hash_file(good_faststart, [VPDQ], every_frame).signals["vpdq"]
    detail = VPDQ.compare(result.signals["vpdq"], full).detail
    assert detail["query_coverage"] >= 0.6
    assert detail["segments"]
    for segment in detail["segments"]:
        assert abs(segment["ref_start"] - segment["query_start"]) <= 0.5


def test_every_packet_corrupt(good_faststart: Path, tmp_path: Path) -> None:
    data = bytearray(good_faststart.read_bytes())
    start = data.find(b"mdat") + 4
    rng = np.random.default_rng(2)
    data[start:] = rng.integers(0, 256, len(data) - start, np.uint8).tobytes()
    garbage = tmp_path / "all-damaged.mp4"
    garbage.write_bytes(bytes(data))
    assert_one_sentence(timed_hash(garbage))


@pytest.mark.parametrize("container", ["mp4", "matroska"])
def test_no_video_stream(tmp_path: Path, container: str) -> None:
    audio = make_audio_only(tmp_path / f"audio.{container[:3]}", container)
    assert_one_sentence(timed_hash(audio), "no video stream")


def _patch_box_field(data: bytearray, box: bytes, offset: int, value: int) -> int:
    """Overwrite a 32-bit field at `offset` bytes into every `box` payload; returns the count."""
    found, at = 0, data.find(box)
    while at >= 0:
        struct.pack_into(">I", data, at + 4 + offset, value)
        found += 1
        at = data.find(box, at + 4)
    return found


def test_header_that_lies_about_the_length(good_faststart: Path, tmp_path: Path) -> None:
    data = bytearray(good_faststart.read_bytes())
    # Version-0 mvhd/mdhd: duration after version+flags, two times and the timescale;
    # tkhd: after version+flags, two times, track id and a reserved word. ~4.5 days.
    huge = 0xFFFFFFF0
    assert _patch_box_field(data, b"mvhd", 16, huge) == 1
    assert _patch_box_field(data, b"tkhd", 20, huge) == 1
    assert _patch_box_field(data, b"mdhd", 16, huge) == 1
    liar = tmp_path / "liar.mp4"
    liar.write_bytes(bytes(data))
    result = timed_hash(liar)
    # Declared durations are never trusted: the frames that exist are hashed, nothing more.
    assert result.error is None
    assert result.signals["vpdq"] == hash_file(good_faststart, [VPDQ]).signals["vpdq"]


@pytest.mark.parametrize(
    "magic",
    [
        b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom",  # mp4
        b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x88matroska",  # Matroska
        b"RIFF\x00\x00\x10\x00AVI LIST",  # AVI
        b"FLV\x01\x05\x00\x00\x00\x09",  # FLV
    ],
)
def test_garbage_behind_a_video_magic_number(tmp_path: Path, magic: bytes) -> None:
    body = np.random.default_rng(3).integers(0, 256, 200_000, np.uint8).tobytes()
    fake = tmp_path / "fake.bin"
    fake.write_bytes(magic + body)
    result = timed_hash(fake)
    assert result.content_type is not None and result.content_type.value == "video"
    assert_one_sentence(result)


def test_batch_goes_on_after_bad_videos(good: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    data = good.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    proc = subprocess.run(
        [sys.executable, "-m", "cordon", "hash", "--signal", "vpdq", "--format", "json",
         str(empty), str(good), str(cut)],
        capture_output=True, timeout=120,
    )
    assert proc.returncode == 1
    rows = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    assert [Path(r["path"]).name for r in rows] == ["empty.mp4", "good.mp4", "cut.mp4"]
    assert rows[0]["error"] and rows[2]["error"]
    assert rows[1]["error"] is None and len(rows[1]["signals"]["vpdq"]["frames"]) == SECONDS
    assert b"Traceback" not in proc.stderr
