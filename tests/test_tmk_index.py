"""The TMK+PDQF index: two-level search, incremental changes, snapshots."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cordon.errors import CordonError
from cordon.hashing import hash_file
from cordon.index.tmk import TmkIndex
from cordon.signals import get_signal_type
from cordon.signals.tmk import TmkAccumulator, TmkHash
from tests.shared_data import INTEROP, require

TMK = get_signal_type("tmk")


def _video(seed: int, count: int = 120) -> TmkHash:
    rng = np.random.default_rng(seed)
    features = np.cumsum(rng.normal(size=(count, 256)), axis=0) + rng.normal(size=256) * 10
    accumulator = TmkAccumulator()
    accumulator.add(features.astype(np.float32))
    return accumulator.finish()


@pytest.fixture(scope="module")
def videos() -> dict[int, TmkHash]:
    return {key: _video(key) for key in range(1, 7)}


def test_make_index_gives_a_tmk_index_at_the_signal_threshold() -> None:
    index = TMK.make_index()
    assert isinstance(index, TmkIndex)
    assert index.threshold == pytest.approx(0.3)
    assert TMK.make_index(0.1).threshold == pytest.approx(0.1)


def test_query_finds_the_same_video_only(videos: dict[int, TmkHash]) -> None:
    index = TmkIndex()
    index.add_many(videos.items())
    assert len(index) == 6
    for key, value in videos.items():
        matches = index.query(value)
        assert [m.key for m in matches] == [key]
        assert matches[0].distance == pytest.approx(0.0, abs=1e-5)
        assert set(matches[0].detail) == {"level1", "level2"}


def test_add_replace_and_remove_are_incremental(videos: dict[int, TmkHash]) -> None:
    index = TmkIndex()
    index.add_many(videos.items())
    index.remove(2)
    index.remove(2)  # unknown keys are ignored
    index.remove(99)
    assert len(index) == 5
    assert index.query(videos[2]) == []
    # The value moved into the freed row is still found under its own key.
    assert [m.key for m in index.query(videos[6])] == [6]
    index.add(1, videos[3])  # replace: key 1 now holds video 3
    assert len(index) == 5
    assert sorted(m.key for m in index.query(videos[3])) == [1, 3]
    assert index.query(videos[1]) == []
    for key in list(videos):
        index.remove(key)
    assert len(index) == 0 and index.query(videos[3]) == []


def test_many_additions_grow_the_index(videos: dict[int, TmkHash]) -> None:
    index = TmkIndex()
    for key in range(40):
        index.add(key, videos[1 + key % 6])
    assert len(index) == 40
    assert sorted(m.key for m in index.query(videos[4])) == list(range(3, 40, 6))


def test_threshold_limits_level2(videos: dict[int, TmkHash]) -> None:
    index = TmkIndex()
    index.add(1, videos[1])
    # The first two thirds of video 1: same content, level-2 below 1.
    rng = np.random.default_rng(1)
    features = np.cumsum(rng.normal(size=(120, 256)), axis=0) + rng.normal(size=256) * 10
    accumulator = TmkAccumulator()
    accumulator.add(features[:80].astype(np.float32))
    prefix = accumulator.finish()
    match = index.query(prefix, threshold=1.0)
    assert [m.key for m in match] == [1]
    distance = match[0].distance
    assert 0 < distance < 1
    assert index.query(prefix, threshold=distance * 0.9) == []
    assert [m.key for m in index.query(prefix, threshold=distance + 1e-6)] == [1]


def test_snapshot_round_trip(tmp_path: Path, videos: dict[int, TmkHash]) -> None:
    index = TmkIndex(threshold=0.25, level1_threshold=0.6)
    index.add_many(videos.items())
    index.remove(4)
    path = tmp_path / "tmk.index"
    index.save(path)
    restored = TmkIndex.load(path)
    assert len(restored) == 5
    assert (restored.threshold, restored.level1_threshold) == (0.25, 0.6)
    for value in videos.values():
        assert restored.query(value) == index.query(value)


def test_empty_snapshot_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "empty.index"
    TmkIndex().save(path)
    assert len(TmkIndex.load(path)) == 0


def test_bad_snapshot_is_a_clear_error(tmp_path: Path, videos: dict[int, TmkHash]) -> None:
    path = tmp_path / "bad.index"
    path.write_bytes(b"not a snapshot")
    with pytest.raises(CordonError, match="snapshot"):
        TmkIndex.load(path)
    np.savez(tmp_path / "other.npz", keys=np.arange(3))
    with pytest.raises(CordonError, match="snapshot"):
        TmkIndex.load(tmp_path / "other.npz")


def test_index_rejects_values_of_other_types() -> None:
    with pytest.raises(CordonError):
        TmkIndex().add(1, "not a tmk hash")  # type: ignore[arg-type]


def test_chair_variant_finds_chair_references_only() -> None:
    reference = require(INTEROP / "tmk" / "sample-hashes")
    index = TmkIndex()
    names: dict[int, str] = {}
    for key, path in enumerate(sorted(reference.glob("*.tmk"))):
        index.add(key, TMK.parse_file(path.read_bytes()))
        names[key] = path.stem
    video = require(INTEROP / "video" / "chair-22-with-small-logo-bar.mp4")
    result = hash_file(video, [TMK])
    assert result.error is None
    found = {names[m.key] for m in index.query(result.signals["tmk"])}
    assert "chair-22-with-small-logo-bar" in found
    assert {"chair-orig-22-sd-bar", "chair-22-sd-grey-bar", "chair-20-sd-bar"} <= found
    assert all(name.startswith("chair") for name in found)
    pattern = TMK.parse_file((reference / "pattern-hd-no-bar.tmk").read_bytes())
    found = {names[m.key] for m in index.query(pattern)}
    assert "pattern-longer-no-bar" in found
    assert not any(name.startswith(("chair", "doorknob")) for name in found)
