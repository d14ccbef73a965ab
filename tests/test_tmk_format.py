"""TMK+PDQF without the reference files: frame features, sampling, accumulation, the binary
layout and its validation."""

from __future__ import annotations

import base64
import math
import struct

import numpy as np
import pdqhash
import pytest

from cordon.errors import SignalFormatError
from cordon.signals import get_signal_type
from cordon.signals.tmk import (
    CfrSampler,
    TmkAccumulator,
    TmkHash,
    level1_score,
    level2_score,
    pdqf_features,
)
from cordon.signals.tmk_format import COEFFICIENTS, PERIODS, SIZE

TMK = get_signal_type("tmk")


def _features(count: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    # Slowly drifting features, like consecutive frames of one shot.
    steps = rng.normal(size=(count, 256)).astype(np.float32)
    return np.cumsum(steps, axis=0) + rng.normal(size=256).astype(np.float32) * 10


def _hash(count: int = 200, seed: int = 0) -> TmkHash:
    accumulator = TmkAccumulator()
    features = _features(count, seed)
    # Uneven chunks: the result must not depend on how frames were batched.
    for start, stop in [(0, 7), (7, 64), (64, count)]:
        accumulator.add(features[start:stop])
    return accumulator.finish()


@pytest.fixture(scope="module")
def value() -> TmkHash:
    return _hash()


def test_frame_feature_is_pdq_float_of_the_64x64_frame() -> None:
    rng = np.random.default_rng(3)
    frames = rng.integers(0, 256, size=(3, 64, 64, 3), dtype=np.uint8)
    ours = pdqf_features(frames)
    for frame, feature in zip(frames, ours, strict=True):
        # The pdqhash bindings run the reference C++ and list the 16x16 output reversed.
        reference, _ = pdqhash.compute_float(frame)
        np.testing.assert_allclose(feature, reference[::-1], atol=1e-2, rtol=1e-5)


def _reference_accumulation(features: np.ndarray) -> TmkHash:
    """A literal transcription of the reference's per-frame loop, for small inputs."""
    periods, coefficients = PERIODS.tolist(), COEFFICIENTS.astype(np.float64)
    cos = np.zeros((4, 32, 256))
    sin = np.zeros((4, 32, 256))
    total = np.zeros(256)
    for t, feature in enumerate(features.astype(np.float64)):
        total += feature
        unit = feature / np.linalg.norm(feature)
        for i, period in enumerate(periods):
            cos[i, 0] += unit
            for j in range(1, 32):
                arg = 2.0 * math.pi * j * t / period
                cos[i, j] += unit * math.cos(arg)
                sin[i, j] += unit * math.sin(arg)
    for block in (cos, sin):
        norms = np.linalg.norm(block, axis=2, keepdims=True)
        block /= np.where(norms > 0, norms, 1)
        block *= np.sqrt(coefficients)[None, :, None]
    return TmkHash(
        len(features),
        (total / len(features)).astype(np.float32),
        cos.astype(np.float32),
        sin.astype(np.float32),
    )


def test_vectorised_accumulation_equals_the_reference_loop() -> None:
    features = _features(40, seed=5)
    accumulator = TmkAccumulator()
    accumulator.add(features[:13])
    accumulator.add(features[13:])
    ours, reference = accumulator.finish(), _reference_accumulation(features)
    assert ours.frame_count == reference.frame_count == 40
    np.testing.assert_allclose(ours.pure_average, reference.pure_average, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(ours.cos, reference.cos, atol=1e-6)
    np.testing.assert_allclose(ours.sin, reference.sin, atol=1e-6)
    assert not ours.sin[:, 0].any()


def _sampled(count: int, fps: float) -> list[int]:
    """Indexes of the input frames ffmpeg -r 15 writes, one per output frame."""
    sampler = CfrSampler(fps)
    out: list[int] = []
    for i in range(count):
        previous, copies = sampler.push(i / fps, 1 / fps)
        out += [i - 1] * previous + [i] * copies
    return out + [count - 1] * sampler.flush()


@pytest.mark.parametrize(
    ("frames", "expected"),
    # Frame counts of the reference .tmk files for 30 fps inputs of 564, 614, 673, 120, 206, 235
    # frames: ffmpeg keeps the first four frames, then every other one.
    [(564, 284), (614, 309), (673, 338), (120, 62), (206, 105), (235, 119)],
)
def test_resampling_30fps_gives_the_reference_frame_counts(frames: int, expected: int) -> None:
    sampled = _sampled(frames, 30.0)
    assert len(sampled) == expected
    assert sampled[:6] == [0, 1, 2, 3, 5, 7]


def test_resampling_repeats_frames_of_slow_videos_and_thins_fast_ones() -> None:
    slow = _sampled(50, 5.0)  # 10 s at 5 fps -> about 150 frames at 15 fps
    assert 145 <= len(slow) <= 155 and slow == sorted(slow)
    assert max(slow.count(i) for i in set(slow)) == 3
    fast = _sampled(600, 60.0)  # 10 s at 60 fps
    assert 148 <= len(fast) <= 155 and len(set(fast)) == len(fast)


def test_self_scores_are_one_and_unrelated_scores_are_low(value: TmkHash) -> None:
    assert level1_score(value, value) == pytest.approx(1.0, abs=1e-6)
    assert level2_score(value, value) == pytest.approx(1.0, abs=1e-5)
    other = _hash(seed=9)
    assert level1_score(value, other) < 0.7
    result = TMK.compare(value, other)
    assert not result.matched and set(result.detail) == {"level1", "level2"}
    assert result.distance == pytest.approx(1 - result.detail["level2"])
    same = TMK.compare(value, value)
    assert same.matched and same.distance == pytest.approx(0.0, abs=1e-5)


def test_level2_finds_a_time_shifted_copy() -> None:
    features = _features(300, seed=4)
    whole, tail = TmkAccumulator(), TmkAccumulator()
    whole.add(features)
    tail.add(features[60:])  # the same video with its first 4 seconds cut
    a, b = whole.finish(), tail.finish()
    assert level2_score(a, b) > 0.8


def test_threshold_is_on_level2_distance(value: TmkHash) -> None:
    other = _hash(seed=0, count=150)  # a prefix: level-1 high, level-2 below 1
    result = TMK.compare(value, other)
    level2 = result.detail["level2"]
    assert TMK.compare(value, other, threshold=1 - level2 + 1e-6).matched == (
        result.detail["level1"] >= 0.7
    )
    assert not TMK.compare(value, other, threshold=max(0.0, 1 - level2 - 1e-3)).matched


def test_binary_and_base64_round_trip(value: TmkHash) -> None:
    data = value.to_bytes()
    assert len(data) == SIZE == 263_344
    assert data[:12] == b"TMK1FVECPDQF"
    assert struct.unpack_from("<5i", data, 12) == (15, 4, 32, 256, 200)
    text = TMK.format(value)
    assert TMK.parse(text) == value
    assert TMK.from_json(TMK.to_json(value)) == value
    assert TMK.reference_file(value) == (".tmk", data)
    # Line-wrapped base64 (as some tools write it) is accepted.
    wrapped = "\n".join(text[i : i + 76] for i in range(0, len(text), 76))
    assert TMK.parse(wrapped) == value


def test_summary_is_one_readable_line(value: TmkHash) -> None:
    summary = TMK.summary(value)
    assert "\n" not in summary and "200 frames" in summary and "15 fps" in summary
    assert len(summary) < 120


def _encode(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _patched(data: bytes, offset: int, fmt: str, *values: object) -> bytes:
    buffer = bytearray(data)
    struct.pack_into(fmt, buffer, offset, *values)
    return bytes(buffer)


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda d: d[:-4], "263,344 bytes"),
        (lambda d: d[:20], "32-byte header"),
        (lambda d: d + b"\0\0\0\0", "263,344 bytes"),
        (lambda d: b"TMK2" + d[4:], "TMK1 FVEC"),
        (lambda d: d[:4] + b"FEAT" + d[8:], "TMK1 FVEC"),
        (lambda d: d[:8] + b"XXXX" + d[12:], "only PDQF"),
        (lambda d: _patched(d, 12, "<i", 30), "15 frames per second"),
        (lambda d: _patched(d, 16, "<i", 5), "4 periods"),
        (lambda d: _patched(d, 20, "<i", 16), "32 Fourier coefficients"),
        (lambda d: _patched(d, 24, "<i", 128), "256-dimensional"),
        (lambda d: _patched(d, 28, "<i", -1), "negative"),
        (lambda d: _patched(d, 32, "<i", 1000), "periods"),
        (lambda d: _patched(d, 48, "<f", 0.5), "Fourier coefficients"),
        (lambda d: _patched(d, 200, "<f", float("nan")), "non-finite"),
        (lambda d: _patched(d, SIZE - 4, "<f", float("inf")), "non-finite"),
    ],
)
def test_malformed_binary_is_rejected_with_a_reason(value: TmkHash, mutate, reason: str) -> None:
    bad = mutate(value.to_bytes())
    with pytest.raises(SignalFormatError, match=reason):
        TMK.parse_file(bad)
    with pytest.raises(SignalFormatError, match=reason):
        TMK.parse(_encode(bad))


@pytest.mark.parametrize(
    "text",
    ["", "not base64 at all!", "QUJD*", "QUJDRA=", "A" * 400_000],
)
def test_malformed_base64_is_rejected(text: str) -> None:
    with pytest.raises(SignalFormatError):
        TMK.parse(text)


def test_non_string_input_is_rejected() -> None:
    with pytest.raises(SignalFormatError):
        TMK.parse(b"TMK1")  # type: ignore[arg-type]
    with pytest.raises(SignalFormatError):
        TMK.from_json({"hash": 3})
