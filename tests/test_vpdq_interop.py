"""vPDQ hashes of the reference videos against the reference tool's own hashes.

Compatible means (../shared/interop/README.md): the same frames, and distance < 31 on every
frame where both sides have quality >= 50. We also require the same frame numbers and
timestamps (to the 3 decimals the reference writes), since alignment relies on them.
Each video is hashed once per size per session.
"""

from __future__ import annotations

import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

from cordon.hashing import hash_file
from cordon.signals import HashOptions, get_signal_type
from cordon.signals.pdq import hamming
from cordon.signals.vpdq import VpdqHash
from tests.shared_data import INTEROP, require

VPDQ = get_signal_type("vpdq")
VIDEOS = INTEROP / "video"
HASHES = INTEROP / "vpdq" / "sample-hashes"

# Native-size hashing runs PDQ on every full frame (up to 12 s per video on the CI machine):
# the quick sets cover SD, HD, low-quality and padded-dimension videos; the rest is slow.
QUICK_NATIVE = {"pattern-sd-grey-bar", "test-padded-dimensions"}
QUICK_128 = {"pattern-sd-grey-bar", "doorknob-hd-no-bar", "chair-19-sd-bar"}
ALL = sorted(p.stem for p in VIDEOS.glob("*.mp4")) if VIDEOS.exists() else sorted(QUICK_NATIVE)
# The reference set has no 128x128 hashes of the padded-dimensions video.
ALL_128 = [name for name in ALL if (HASHES / f"{name}-128x128.txt").exists()] or sorted(QUICK_128)


@cache
def _ours(name: str, size: tuple[int, int] | None) -> VpdqHash:
    result = hash_file(VIDEOS / f"{name}.mp4", [VPDQ], HashOptions(fps=0, frame_size=size))
    assert result.error is None, result.error
    return result.signals["vpdq"]


def _reference(name: str, suffix: str) -> VpdqHash:
    path = require(HASHES / f"{name}{suffix}.txt")
    return VPDQ.parse(path.read_text())


def _assert_compatible(ours: VpdqHash, theirs: VpdqHash) -> None:
    assert len(ours) == len(theirs)
    compared = 0
    for a, b in zip(ours.frames, theirs.frames, strict=True):
        assert a.frame == b.frame
        assert abs(a.seconds - b.seconds) < 0.0006, (a, b)
        if a.quality >= 50 and b.quality >= 50:
            distance = hamming(a.hex, b.hex)
            assert distance < 31, f"frame {a.frame}: distance {distance}"
            compared += 1
    assert compared > 0


def _params(names: list[str], quick: set[str]) -> list:
    return [
        pytest.param(name, marks=() if name in quick else pytest.mark.slow) for name in names
    ]


@pytest.mark.parametrize("name", _params(ALL, QUICK_NATIVE))
def test_every_frame_at_native_size(name: str) -> None:
    require(VIDEOS / f"{name}.mp4")
    _assert_compatible(_ours(name, None), _reference(name, ""))


@pytest.mark.parametrize("name", _params(ALL_128, QUICK_128))
def test_every_frame_at_128x128(name: str) -> None:
    require(VIDEOS / f"{name}.mp4")
    _assert_compatible(_ours(name, (128, 128)), _reference(name, "-128x128"))


def test_most_frames_are_nearly_identical_to_the_reference() -> None:
    """Beyond the compatibility bound: on a clean video nearly every frame is within 8 bits."""
    name = "pattern-sd-grey-bar"
    require(VIDEOS / f"{name}.mp4")
    ours, theirs = _ours(name, None), _reference(name, "")
    distances = [hamming(a.hex, b.hex) for a, b in zip(ours.frames, theirs.frames, strict=True)]
    assert sum(d <= 8 for d in distances) >= 0.98 * len(distances)


def test_one_frame_per_second_samples_like_the_reference() -> None:
    """At the default 1 fps on a 30 fps video the reference hashes frames 0, 30, 60, ..."""
    name = "pattern-sd-grey-bar"
    path = require(VIDEOS / f"{name}.mp4")
    sampled = hash_file(path, [VPDQ], HashOptions(fps=1.0)).signals["vpdq"]
    every = {f.frame: f for f in _ours(name, None).frames}
    assert [f.frame for f in sampled.frames] == list(range(0, len(every), 30))
    for frame in sampled.frames:
        assert frame.hex == every[frame.frame].hex
        assert frame.seconds == pytest.approx(frame.frame / 30)


def test_cli_writes_the_reference_text(tmp_path: Path) -> None:
    name = "pattern-sd-grey-bar"
    video = require(VIDEOS / f"{name}.mp4")
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "cordon", "hash", "--signal", "vpdq", "--fps", "0",
         "--frame-size", "128x128", "--output-dir", str(out), str(video)],
        capture_output=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    written = (out / f"{name}.vpdq.txt").read_text()
    lines = written.splitlines()
    reference_lines = _reference(name, "-128x128")
    assert len(lines) == len(reference_lines)
    # Same layout as the reference file: frame,quality,hash,seconds with 3 decimals.
    first = lines[1].split(",")
    assert first[0] == "1" and len(first[2]) == 64 and first[3] == "0.033"
    _assert_compatible(VPDQ.parse(written), reference_lines)
