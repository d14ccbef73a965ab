"""The vPDQ index: frame-level search, per-video coverage and temporal alignment."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from cordon.errors import CordonError
from cordon.hashing import hash_file
from cordon.index.vpdq import VpdqIndex
from cordon.signals import get_signal_type
from cordon.signals.vpdq import VpdqHash
from tests.shared_data import INTEROP, require
from tests.test_vpdq_signal import flip, random_hexes, video

VPDQ = get_signal_type("vpdq")


@pytest.fixture()
def bank() -> tuple[VpdqIndex, dict[int, list[str]]]:
    index = VPDQ.make_index()
    frames = {key: random_hexes(30 + key % 90, key) for key in range(1, 201)}
    frames[7] = random_hexes(600, 7000)  # a 10-minute video at 1 fps
    index.add_many((key, video(hexes)) for key, hexes in frames.items())
    return index, frames


def test_a_clip_from_minute_three_is_found_and_aligned(bank) -> None:
    index, frames = bank
    clip = video([flip(h, 10, i) for i, h in enumerate(frames[7][180:190])])
    (match,) = index.query(clip)
    assert match.key == 7 and match.distance == 0
    assert match.detail["query_coverage"] == 1
    assert match.detail["reference_coverage"] == pytest.approx(10 / 600, abs=1e-4)
    (segment,) = match.detail["segments"]
    assert segment["query_start"] == pytest.approx(0, abs=1)
    assert segment["query_end"] == pytest.approx(10, abs=1)
    assert segment["ref_start"] == pytest.approx(180, abs=1)
    assert segment["ref_end"] == pytest.approx(190, abs=1)


def test_index_agrees_with_pairwise_comparison(bank) -> None:
    index, frames = bank
    # A compilation: 20 s of video 3, 10 s of unknown content, 15 s of video 7 from 5:00.
    parts = frames[3][5:25] + random_hexes(10, 999) + frames[7][300:315]
    query = video([flip(h, 8, i) for i, h in enumerate(parts)], start=0)
    found = {m.key: m for m in index.query(query, threshold=0.9)}
    assert set(found) == {3, 7}
    for key in found:
        direct = VPDQ.compare(query, video(frames[key]), threshold=0.9)
        assert direct.matched
        assert found[key].distance == pytest.approx(direct.distance)
        assert found[key].detail == direct.detail
    segment = found[7].detail["segments"][0]
    assert segment["query_start"] == pytest.approx(30, abs=1)
    assert segment["ref_start"] == pytest.approx(300, abs=1)
    assert segment["ref_end"] == pytest.approx(315, abs=1)


def test_threshold_separates_partial_matches(bank) -> None:
    index, frames = bank
    half = video(frames[5][: len(frames[5]) // 2] + random_hexes(len(frames[5]) // 2, 100_077))
    assert index.query(half) == []  # 50% of the query, 50% of the reference
    (match,) = index.query(half, threshold=0.5)
    assert match.key == 5 and match.distance == pytest.approx(0.5, abs=0.02)


def test_unrelated_and_weak_queries_match_nothing(bank) -> None:
    index, frames = bank
    assert index.query(video(random_hexes(60, 12345))) == []
    assert index.query(video(frames[9], quality=20)) == []


def test_remove_and_replace(bank) -> None:
    index, frames = bank
    query = video(frames[11])
    assert [m.key for m in index.query(query)] == [11]
    index.remove(11)
    assert index.query(query) == []
    index.remove(11)  # unknown keys are ignored
    index.add(12, query)  # replaces what key 12 held
    assert [m.key for m in index.query(query)] == [12]
    assert index.query(video(frames[12])) == []
    assert len(index) == 199


def test_removing_most_videos_compacts(bank) -> None:
    index, frames = bank
    before = index.frame_count
    for key in range(1, 151):
        index.remove(key)
    assert len(index) == 50
    assert index.frame_count == sum(len(frames[k]) for k in range(151, 201))
    assert index.frame_count < before
    for key in (151, 175, 200):
        assert [m.key for m in index.query(video(frames[key]))] == [key]


def test_snapshot_round_trips(bank, tmp_path: Path) -> None:
    index, frames = bank
    index.remove(4)
    path = tmp_path / "vpdq.idx"
    index.save(path)
    loaded = VpdqIndex.load(path)
    assert len(loaded) == len(index) and loaded.frame_count == index.frame_count
    assert loaded.threshold == index.threshold
    clip = video(frames[7][180:190])
    assert loaded.query(clip) == index.query(clip)
    assert loaded.query(video(frames[4])) == []


def test_damaged_snapshot_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.idx"
    path.write_bytes(b"not a snapshot")
    with pytest.raises(CordonError, match="not a vpdq index snapshot"):
        VpdqIndex.load(path)


def test_values_of_another_type_are_refused() -> None:
    with pytest.raises(CordonError):
        VpdqIndex().add(1, "ffff")  # type: ignore[arg-type]


def _cut(source: Path, target: Path, start: float, end: float) -> Path:
    """Re-encode the [start, end) seconds of a video (a clip as someone would re-upload it)."""
    with av.open(str(source)) as inp, av.open(str(target), "w") as out:
        stream_in = inp.streams.video[0]
        rate = stream_in.average_rate
        stream = out.add_stream("mpeg4", rate=rate)
        stream.width, stream.height = 320, 480
        stream.pix_fmt = "yuv420p"
        stream.bit_rate = 1_500_000
        for index, frame in enumerate(inp.decode(stream_in)):
            seconds = index / float(rate)
            if seconds >= end:
                break
            if seconds >= start:
                rgb = frame.to_ndarray(format="rgb24", width=320, height=480)
                for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                    out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return target


def test_a_reencoded_clip_of_a_real_video_is_aligned(tmp_path: Path) -> None:
    source = require(INTEROP / "video" / "chair-22-sd-grey-bar.mp4")
    clip = _cut(source, tmp_path / "clip.mp4", 8.0, 16.0)
    full: VpdqHash = hash_file(source, [VPDQ]).signals["vpdq"]
    part: VpdqHash = hash_file(clip, [VPDQ]).signals["vpdq"]
    index = VPDQ.make_index()
    index.add(1, full)
    index.add(2, hash_file(require(INTEROP / "video" / "pattern-sd-grey-bar.mp4"), [VPDQ])
              .signals["vpdq"])
    matches = index.query(part)
    assert [m.key for m in matches] == [1]
    detail = matches[0].detail
    assert detail["query_coverage"] >= 0.8
    segment = max(detail["segments"], key=lambda s: s["query_end"] - s["query_start"])
    assert segment["query_start"] == pytest.approx(0, abs=1)
    assert segment["ref_start"] == pytest.approx(8, abs=1)
    assert segment["ref_end"] == pytest.approx(16, abs=1)


def test_threshold_and_frame_threshold_are_checked() -> None:
    with pytest.raises(CordonError):
        VpdqIndex(threshold=1.5)
    with pytest.raises(CordonError):
        VpdqIndex(frame_threshold=300)
    assert np.isclose(VPDQ.make_index().threshold, 0.2)
