"""TMK+PDQF hashes and scores must be the ones the reference tools compute: the `.tmk` files and
pair scores in ../shared/interop are the spec."""

from __future__ import annotations

import itertools
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from cordon.hashing import hash_file
from cordon.signals import get_signal_type
from cordon.signals.tmk import TmkHash, level1_score, level2_score
from tests.shared_data import INTEROP, require

TMK = get_signal_type("tmk")
VIDEOS = INTEROP / "video"
REFERENCE = INTEROP / "tmk" / "sample-hashes"
PAIR_SCORES = INTEROP / "tmk" / "expected-pair-scores.txt"


def _names() -> list[str]:
    """Videos that have a reference .tmk (listed at collection time; empty without ../shared)."""
    if not REFERENCE.exists():
        return ["missing"]
    return sorted(p.stem for p in REFERENCE.glob("*.tmk") if (VIDEOS / f"{p.stem}.mp4").exists())


def _reference(name: str) -> TmkHash:
    return TMK.parse_file(require(REFERENCE / f"{name}.tmk").read_bytes())


def _pair_scores() -> list[tuple[float, float, str, str]]:
    rows = []
    for line in require(PAIR_SCORES).read_text().splitlines():
        if line.strip():
            level1, level2, a, b = line.split()
            rows.append((float(level1), float(level2), a[: -len(".tmk")], b[: -len(".tmk")]))
    return rows


# Hashing every interop video takes about 10 s: the tests that need our hashes are marked slow.
slow = pytest.mark.slow


@pytest.fixture(scope="module")
def ours() -> dict[str, TmkHash]:
    """Our hash of every interop video, computed once for the module."""
    require(VIDEOS)
    hashes = {}
    for video in sorted(VIDEOS.glob("*.mp4")):
        result = hash_file(video, [TMK])
        assert result.error is None, f"{video.name}: {result.error}"
        hashes[video.stem] = result.signals["tmk"]
    return hashes


@slow
@pytest.mark.parametrize("name", _names())
def test_our_hash_scores_at_least_099_against_the_reference(
    ours: dict[str, TmkHash], name: str
) -> None:
    reference = _reference(name)
    value = ours[name]
    assert value.frame_count == reference.frame_count
    assert level1_score(value, reference) >= 0.99
    assert level2_score(value, reference) >= 0.99


def test_scores_between_reference_files_reproduce_the_reference_scorer() -> None:
    rows = _pair_scores()
    assert len(rows) >= 30
    for level1, level2, a, b in rows:
        first, second = _reference(a), _reference(b)
        assert level1_score(first, second) == pytest.approx(level1, abs=0.001), (a, b)
        assert level2_score(first, second) == pytest.approx(level2, abs=0.001), (a, b)


@slow
def test_scores_between_our_hashes_are_close_to_the_reference_scores(
    ours: dict[str, TmkHash],
) -> None:
    checked = 0
    for level1, level2, a, b in _pair_scores():
        if a in ours and b in ours:
            comparison = TMK.compare(ours[a], ours[b])
            assert comparison.detail["level1"] == pytest.approx(level1, abs=0.02), (a, b)
            assert comparison.detail["level2"] == pytest.approx(level2, abs=0.02), (a, b)
            assert comparison.matched == (level1 >= 0.7 and level2 >= 0.7)
            checked += 1
    assert checked >= 20


@slow
def test_variants_match_and_different_videos_do_not(ours: dict[str, TmkHash]) -> None:
    chairs = [n for n in ours if n.startswith("chair")]
    patterns = [n for n in ours if n.startswith("pattern")]
    # A logo covering a large part of the frame moves the average feature too far (level-1
    # about 0.45 even between the reference files): TMK's known limit, not tested as a match.
    recognisable = [n for n in chairs if "large-logo" not in n]
    for a, b in itertools.combinations(recognisable, 2):
        assert TMK.compare(ours[a], ours[b]).matched, (a, b)
    for a, b in itertools.product(chairs, [*patterns, "doorknob-hd-no-bar"]):
        assert not TMK.compare(ours[a], ours[b]).matched, (a, b)


@pytest.mark.parametrize("name", sorted(p.stem for p in REFERENCE.glob("*.tmk")) or ["missing"])
def test_reference_files_read_and_write_back_byte_for_byte(name: str) -> None:
    data = require(REFERENCE / f"{name}.tmk").read_bytes()
    value = TMK.parse_file(data)
    assert value.to_bytes() == data
    assert TMK.parse(TMK.format(value)).to_bytes() == data


def test_cli_writes_reference_layout_tmk_files(tmp_path: Path) -> None:
    video = require(VIDEOS / "doorknob-hd-no-bar.mp4")
    proc = subprocess.run(
        [sys.executable, "-m", "cordon", "hash", "--signal", "tmk", "--output-dir",
         str(tmp_path), str(video)],
        capture_output=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    assert "tmk" in proc.stdout.decode()
    written = (tmp_path / "doorknob-hd-no-bar.tmk").read_bytes()
    expected = (REFERENCE / "doorknob-hd-no-bar.tmk").read_bytes()
    assert len(written) == len(expected)
    # Same header (magics, fps, periods, coefficients, dimension, frame count) and parameters.
    assert written[:32] == expected[:32]
    assert struct.unpack_from("<4i32f", written, 32) == struct.unpack_from("<4i32f", expected, 32)
    assert level2_score(TMK.parse_file(written), TMK.parse_file(expected)) >= 0.99
