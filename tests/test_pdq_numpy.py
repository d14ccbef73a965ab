"""The NumPy PDQ must give the reference's bits: `pdqhash.compute` on the same RGB array."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pdqhash
import pytest
from PIL import Image

from cordon.media.image import decode_rgb
from cordon.media.limits import MediaLimits
from cordon.signals import pdq_numpy
from cordon.signals.pdq import bits_to_hex, hamming, hash_rgb
from tests.media_factory import photo_like
from tests.shared_data import CORPUS, INTEROP, require

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"}


def _reference(rgb: np.ndarray) -> tuple[str, int]:
    bits, quality = pdqhash.compute(np.ascontiguousarray(rgb))
    return bits_to_hex(bits), int(quality)


def _numpy(rgb: np.ndarray) -> tuple[str, int, float]:
    packed, quality, margin = pdq_numpy.compute(rgb)
    return packed.tobytes().hex(), quality, margin


def _shared_images() -> list[Path]:
    folders = [require(CORPUS / "images"), require(INTEROP)]
    return sorted(
        p for folder in folders for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES
    )


def _textured(height: int, width: int, seed: int) -> np.ndarray:
    """Smooth structure plus noise, at any size (photo_like needs a few pixels per side)."""
    rng = np.random.default_rng(seed)
    base = np.asarray(photo_like(64, 64, seed=seed).resize((width, height))).astype(np.int16)
    noise = rng.integers(-24, 25, size=base.shape)
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def _assert_same(rgb: np.ndarray, label: str) -> bool:
    """The NumPy hash equals the reference where its margin says rounding cannot matter, and
    `hash_rgb` (which falls back to the reference below that margin) equals it everywhere.
    Returns whether the NumPy result was used as is."""
    expected, expected_quality = _reference(rgb)
    actual, quality, margin = _numpy(rgb)
    assert abs(quality - expected_quality) <= 1, f"{label}: quality {quality} != {expected_quality}"
    confident = margin >= pdq_numpy.SAFE_MARGIN
    if confident:
        assert hamming(actual, expected) == 0, f"{label}: margin {margin}"
    if min(rgb.shape[:2]) >= 5:  # hash_rgb upscales smaller images first, by design
        assert hash_rgb(rgb).hex == expected, label
    return confident


def test_every_shared_image_hashes_as_the_reference() -> None:
    limits = MediaLimits()
    confident = checked = 0
    for path in _shared_images():
        rgb = decode_rgb(path, limits, min_side=None)
        confident += _assert_same(rgb, path.name)
        checked += 1
    assert checked >= 300
    # The reference is only needed where the middle coefficients nearly tie (flat images,
    # large uniform areas): a small minority.
    assert confident >= 0.85 * checked, f"{confident} of {checked} hashed by NumPy alone"


SIZES = [(h, w) for h in range(1, 9) for w in range(1, 9)] + [
    (5, 5),
    (7, 13),
    (63, 63),
    (63, 64),
    (64, 64),
    (64, 65),
    (65, 65),
    (127, 127),
    (127, 128),
    (128, 128),
    (128, 129),
    (129, 129),
    (255, 257),
    (256, 256),
    (333, 517),
    (600, 901),
    (1001, 767),
    (5, 3000),
    (3000, 5),
    (9, 2500),
    (40, 4001),
    (4001, 40),
]


@pytest.mark.parametrize(("height", "width"), SIZES)
def test_synthetic_sizes_hash_as_the_reference(height: int, width: int) -> None:
    _assert_same(_textured(height, width, seed=height * 7919 + width), f"{height}x{width}")


def test_tiny_images_are_all_zero_like_the_reference() -> None:
    rgb = _textured(4, 40, seed=1)
    actual, quality, margin = _numpy(rgb)
    assert (actual, quality) == _reference(rgb) == ("0" * 64, 0)
    assert margin == float("inf")


def test_flat_and_blocky_images_fall_back_to_the_reference() -> None:
    # A flat picture's DCT is rounding noise and an upscaled 8x8 one ties many coefficients
    # at the median: the NumPy bits cannot be the reference's, and the margin says so.
    flat = np.full((480, 640, 3), 128, dtype=np.uint8)
    blocky = np.asarray(
        Image.fromarray(_textured(8, 8, seed=3)).resize((512, 512), Image.Resampling.NEAREST)
    )
    for rgb in (flat, blocky):
        assert _numpy(rgb)[2] < pdq_numpy.SAFE_MARGIN
        assert hash_rgb(rgb).hex == _reference(rgb)[0]


def test_views_and_non_contiguous_arrays() -> None:
    rgb = _textured(400, 600, seed=5)
    for view in (rgb[::-1], rgb[:, 100:500], rgb.transpose(1, 0, 2)):
        assert _numpy(view)[:2] == _numpy(np.ascontiguousarray(view))[:2]
        _assert_same(view, "view")


def test_kernel_matches_two_box_passes() -> None:
    # The collapsed kernel is the reference's two running-box passes evaluated at the samples:
    # check it against the passes written out on a random signal, for windows odd and even.
    rng = np.random.default_rng(0)
    for side in (5, 64, 129, 300, 640, 1000, 4001):
        signal = rng.random(side)
        width = pdq_numpy.window_size(side)
        half = (width + 2) // 2
        before, after = width - half, half - 1
        blurred = signal
        for _ in range(2):
            blurred = np.array(
                [
                    blurred[max(0, o - before) : min(side, o + after + 1)].mean()
                    for o in range(side)
                ]
            )
        weights, starts, stops = pdq_numpy.axis_kernel(side)
        samples = pdq_numpy.sample_positions(side)
        np.testing.assert_allclose(weights @ signal, blurred[samples], rtol=1e-5)
        assert (weights >= 0).all()
        np.testing.assert_allclose(weights.sum(axis=1), 1, rtol=1e-5)
        for i in range(pdq_numpy.GRID):
            outside = np.r_[weights[i, : starts[i]], weights[i, stops[i] :]]
            assert not outside.any(), f"side {side}: sample {i} reads outside its band"


def test_bad_shapes_are_refused() -> None:
    with pytest.raises(ValueError, match="HxWx3"):
        pdq_numpy.compute(np.zeros((64, 64), dtype=np.uint8))


@pytest.mark.parametrize("mode", ["RGBA", "LA"])
def test_transparent_images_reduce_to_the_pixels_of_an_rgb_conversion(
    tmp_path: Path, mode: str
) -> None:
    # Reduced decoding drops alpha as a full-size conversion to RGB would: transparent pixels
    # keep their colour (no premultiplication), so the hash is the full-size picture's.
    rng = np.random.default_rng(7)
    colour = _textured(1100, 1300, seed=7)
    alpha = rng.integers(0, 256, size=(1100, 1300, 1), dtype=np.uint8)
    image = Image.fromarray(np.concatenate([colour, alpha], axis=2), "RGBA").convert(mode)
    path = tmp_path / "transparent.png"
    image.save(path)
    expected = np.asarray(image.convert("RGB").reduce(2))
    decoded = decode_rgb(path, MediaLimits())
    assert decoded.shape == expected.shape
    assert (decoded == expected).all()
