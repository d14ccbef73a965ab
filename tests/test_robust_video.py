"""vpdq-robust: per-frame views, the time-line fit, the index and the compact form."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from cordon.errors import CordonError, SignalFormatError
from cordon.hashing import hash_file
from cordon.index.vpdq_robust import RobustVideoIndex, banked_rows, fit_run
from cordon.signals import get_signal_type
from cordon.signals.vpdq_robust import SAMPLES_PER_SECOND, RobustVideo, frame_views
from tests.media_factory import photo_like

ROBUST = get_signal_type("vpdq-robust")
STEP = 1.0 / SAMPLES_PER_SECOND


def _pan(seed: int, frames: int, size: tuple[int, int] = (192, 108)) -> list[np.ndarray]:
    """A camera pan over a large textured picture: neighbouring frames are alike."""
    width, height = size
    scene = np.asarray(photo_like(width + frames * 3, height * 2, seed=seed))
    rng = np.random.default_rng(seed)
    scene = scene.copy()
    for _ in range(60):
        x, y = rng.integers(0, scene.shape[1] - 30), rng.integers(0, scene.shape[0] - 30)
        scene[y : y + rng.integers(6, 30), x : x + rng.integers(6, 30)] = rng.integers(0, 256, 3)
    return [
        np.ascontiguousarray(scene[20 : 20 + height, 3 * k : 3 * k + width]) for k in range(frames)
    ]


def _value(frames: list[np.ndarray], start: float = 0.0) -> RobustVideo:
    views = [frame_views(f) for f in frames]
    return RobustVideo(
        (start + STEP * np.arange(len(frames))).astype(np.float32),
        np.stack([h for h, _ in views]),
        np.stack([q for _, q in views]),
    )


def _letterbox(frame: np.ndarray) -> np.ndarray:
    return np.pad(frame, ((30, 30), (0, 0), (0, 0)))


@pytest.fixture(scope="module")
def bank() -> tuple[RobustVideoIndex, list[np.ndarray]]:
    reference = _pan(1, 160)  # 160 sampled frames
    index = RobustVideoIndex()
    index.add(7, _value(reference))
    index.add(8, _value(_pan(2, 160)))
    return index, reference


@pytest.mark.parametrize(
    "edit",
    [
        lambda f: f,
        lambda f: np.ascontiguousarray(f[:, ::-1]),
        _letterbox,
    ],
    ids=["clip", "mirrored clip", "letterboxed clip"],
)
def test_a_clip_is_found_with_its_time_range(bank, edit) -> None:  # type: ignore[no-untyped-def]
    index, reference = bank
    clip = [edit(f) for f in reference[40:100]]
    hits = index.query(_value(clip))
    assert [h.key for h in hits] == [7]
    run = hits[0].detail["run"]
    assert abs(run["ref_start"] - 40 * STEP) <= 0.5 and abs(run["ref_end"] - 100 * STEP) <= 0.5


def test_a_clip_inserted_into_unrelated_footage_is_found_where_it_is(bank) -> None:  # type: ignore[no-untyped-def]
    index, reference = bank
    footage = _pan(3, 40) + reference[60:120] + _pan(4, 40)
    hits = index.query(_value(footage))
    assert [h.key for h in hits] == [7]
    run = hits[0].detail["run"]
    assert abs(run["query_start"] - 40 * STEP) <= 0.5 and abs(run["ref_start"] - 60 * STEP) <= 0.5
    # Unrelated footage alone matches nothing.
    assert index.query(_value(_pan(3, 40) + _pan(4, 40))) == []


def test_the_time_line_fit_follows_a_speed_change_and_ignores_chance_hits() -> None:
    query = np.arange(0, 20, STEP)
    run = fit_run(query, 5 + 1.1 * query, query)
    assert run is not None and run["speed"] == pytest.approx(1.1, abs=0.03)
    assert abs(run["ref_start"] - 5) <= 0.4 and abs(run["ref_end"] - 27) <= 0.6
    rng = np.random.default_rng(0)
    scattered = fit_run(query, rng.uniform(0, 600, len(query)), query)
    assert scattered is None or scattered["query_end"] - scattered["query_start"] < 2


def test_compact_form_round_trips_and_rejects_bad_input(bank) -> None:  # type: ignore[no-untyped-def]
    _, reference = bank
    value = _value(reference[:12])
    text = ROBUST.format(value)
    assert ROBUST.parse(text) == value
    assert ROBUST.compare(value, ROBUST.parse(text)).matched
    for bad in ("not base64!", text[:-12], ""):
        with pytest.raises(SignalFormatError):
            ROBUST.parse(bad)


def test_hashed_from_a_video_file_through_the_decoder(tmp_path: Path) -> None:
    frames = _pan(5, 150, (160, 96))  # 6 s at 25 fps
    path = tmp_path / "pan.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(25))
        stream.width, stream.height, stream.pix_fmt = 160, 96, "yuv420p"
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    result = hash_file(path, [ROBUST])
    assert result.ok, result.error
    value = result.signals["vpdq-robust"]
    # Every frame is hashed; the index banks the first at or after each eighth of a second.
    assert len(value) == 150
    assert value.seconds[1] == pytest.approx(0.04, abs=1e-6)
    banked = value.seconds[banked_rows(value)]
    assert len(banked) == 6 * SAMPLES_PER_SECOND
    assert banked[1] == pytest.approx(0.16, abs=1e-6)


def test_snapshot_round_trip_and_damaged_snapshot(bank, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    index, reference = bank
    path = tmp_path / "robust-video.snap"
    index.save(path)
    restored = RobustVideoIndex.load(path)
    clip = _value(reference[40:120], start=0.0)
    assert [m.key for m in restored.query(clip)] == [m.key for m in index.query(clip)] == [7]
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(CordonError, match="cannot load the vpdq-robust index snapshot"):
        RobustVideoIndex.load(path)
