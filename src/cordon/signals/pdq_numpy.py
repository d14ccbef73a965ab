"""PDQ in NumPy, computing the reference's blurred 64x64 grid only where it is sampled.

The reference PDQ (Meta's C++, which `pdqhash` binds) turns an image into float luma, blurs it
with two passes of a box filter along rows and columns (the Jarosz tent, a window of about
1/128 of each side, with partial windows at the edges averaged over the pixels they hold),
keeps a 64x64 grid of the blurred pixels, and hashes that grid (DCT, median, quality). Every
operation before the sampling is linear and separable, so each of the 64 sampled rows (columns)
is a fixed weighted sum of the image's rows (columns): the two box passes collapse into one
tent-like kernel per sample, and the grid is `rows @ image @ columns.T`. Only a band of about
1/64 of the side feeds each sample, so the work is one weighted pass over the pixels instead of
four full filter passes plus a float luma copy. The bits are the reference's unless its
running-sum rounding could swap the two middle DCT coefficients; `compute` reports how far
apart they are so that the caller can ask the reference instead (`cordon.signals.pdq`), and
the tests check the bits against `pdqhash` on every shared image.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

# Ten times the largest difference seen between these DCT coefficients and the reference's
# (full-size photos up to 5640 pixels): closer middle coefficients leave the bits to rounding.
SAFE_MARGIN = 0.02
# The reference's smallest hashable side; below it the reference returns an all-zero hash.
MIN_HASHABLE_SIDE = 5
GRID = 64
# Luma weights of the reference (BT.601), as float32 like its constants.
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)

# PDQ's DCT: the 16 lowest non-constant cosines over 64 samples.
_DCT = (
    np.sqrt(2 / 64)
    * np.cos(np.pi / 2 / 64 * (np.arange(1, 17)[:, None]) * (2 * np.arange(64)[None, :] + 1))
).astype(np.float32)
# The same matrix indexed (k, i): sums over k run along the outermost axis, which NumPy adds
# one slice after another, in the reference's order.
_DCT_K = np.ascontiguousarray(_DCT.T)


def _bits(coefficients: np.ndarray) -> np.ndarray:
    """Packed hashes (k, 32) of k 16x16 DCT outputs: a bit per coefficient above the median.

    The reference's median (Torben's) is the lower middle value of the 256, and its bit i*16+j
    is the (255 - (i*16+j))th of the hex form."""
    flat = coefficients.reshape(len(coefficients), 256)
    median = np.partition(flat, 127, axis=1)[:, 127:128]
    return np.packbits((flat > median)[:, ::-1], axis=1)


def _qualities(pixels: np.ndarray) -> np.ndarray:
    """The reference's quality (0..100) of k float32 64x64 grids: the sum of the absolute
    neighbour differences, each scaled to 0..100 and truncated, over 90."""
    vertical = np.trunc((pixels[:, :-1, :] - pixels[:, 1:, :]) * 100 / 255)
    horizontal = np.trunc((pixels[:, :, :-1] - pixels[:, :, 1:]) * 100 / 255)
    gradient = np.abs(vertical).sum(axis=(1, 2)) + np.abs(horizontal).sum(axis=(1, 2))
    return np.minimum(100, gradient // 90).astype(np.uint8)


def pdq_views(views: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """PDQ hashes (k, 32) and qualities (k,) of k 64x64 greyscale views, in one batch.

    This is the reference PDQ algorithm for a 64x64 input (where its Jarosz filter is the
    identity), with the DCT done by matrix products: it agrees with the reference code up to
    float rounding at the median (about 2 bits in 256), at a twentieth of the cost per view.
    """
    pixels = views.astype(np.float32)
    return _bits(_DCT @ pixels @ _DCT.T), _qualities(pixels)


def dct16(grid: np.ndarray) -> np.ndarray:
    """The reference's 16x16 DCT of a float32 64x64 grid, summed in the reference's order
    (each output a float32 sum over k = 0..63), so coefficients tied at the median split as
    the reference splits them."""
    partial = np.add.reduce(_DCT_K[:, :, None] * grid[:, None, :], axis=0)
    return np.add.reduce(partial.T[:, :, None] * _DCT_K[:, None, :], axis=0)


def window_size(side: int) -> int:
    """The reference's box width for a side reduced to 64: side / 128, rounded up."""
    return (side + 2 * GRID - 1) // (2 * GRID)


def sample_positions(side: int) -> np.ndarray:
    """The pixel each of the 64 grid cells takes (its centre, rounded down, as the reference)."""
    return (((np.arange(GRID) + 0.5) * side) / GRID).astype(np.int64)


def _box_reach(width: int) -> tuple[int, int]:
    """How far a box of `width` reaches before and after its output position.

    The reference's running box writes output o from inputs o - before .. o + after, clipped
    to the vector (an odd width is centred, an even one reaches one further ahead)."""
    ahead = (width + 2) // 2 - 1
    return width - 1 - ahead, ahead


def _box_counts(side: int, before: int, after: int) -> np.ndarray:
    """How many inputs each output of the box averages (fewer at the edges)."""
    positions = np.arange(side)
    return (np.minimum(side - 1, positions + after) - np.maximum(0, positions - before) + 1).astype(
        np.float64
    )


def axis_kernel(side: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The two box passes along one axis, evaluated at the 64 sample positions.

    Returns the dense (64, side) float32 weights and, per sample, the first and one past the
    last input it reads (the band to slice)."""
    before, after = _box_reach(window_size(side))
    counts = _box_counts(side, before, after)
    samples = sample_positions(side)
    positions = np.arange(side)
    # Outer pass (applied last): sample s averages first-pass outputs s-before .. s+after.
    lo = np.maximum(0, samples - before)[:, None]
    hi = np.minimum(side - 1, samples + after)[:, None]
    outer = ((positions >= lo) & (positions <= hi)) / counts[samples][:, None]
    # Inner pass: input c feeds first-pass outputs c-after .. c+before, each divided by its
    # count, so the weight of c is a windowed sum of outer/counts (a cumulative-sum difference).
    spread = np.concatenate(
        [np.zeros((GRID, 1)), np.cumsum(outer / counts[None, :], axis=1)], axis=1
    )
    first = np.maximum(0, positions - after)
    last = np.minimum(side - 1, positions + before)
    weights = spread[:, last + 1] - spread[:, first]
    starts = np.maximum(0, samples - 2 * before)
    stops = np.minimum(side, samples + 2 * after + 1)
    return weights.astype(np.float32), starts, stops


def reference_luma(rgb: np.ndarray) -> np.ndarray:
    return (rgb[:, :, 0] * 0.299 + rgb[:, :, 1] * 0.587 + rgb[:, :, 2] * 0.114).astype(np.float32)


def luma_grid(rgb: np.ndarray) -> np.ndarray:
    """The reference's blurred, decimated 64x64 float32 luma of a C-contiguous HxWx3 uint8
    image (both sides at least MIN_HASHABLE_SIDE)."""
    height, width = rgb.shape[:2]
    if height == GRID and width == GRID:
        # The reference does not filter a 64x64 input: the grid is its luma, computed as the
        # `pdqhash` bindings compute it (in float64, then rounded to float32).
        return reference_luma(rgb)
    flat = rgb.reshape(height, width * 3)
    # One small product per sample and band (about 1/64 of the side): the pixels are read
    # once, converted to float in cache-sized pieces, and no product is large enough for
    # the BLAS library to spread over threads (which costs more CPU than it saves here).
    rows = np.empty((GRID, width * 3), dtype=np.float32)
    for i, (start, stop, weights) in enumerate(_bands(height, False)):
        rows[i] = weights @ flat[start:stop].astype(np.float32)
    grid = np.empty((GRID, GRID), dtype=np.float32)
    for j, (start, stop, weights) in enumerate(_bands(width, True)):
        grid[:, j] = rows[:, start:stop] @ weights
    return grid


@lru_cache(maxsize=128)
def _bands(side: int, rgb: bool) -> tuple[tuple[int, int, np.ndarray], ...]:
    """Each sample's band of the axis kernel as (start, stop, weights), kept instead of the
    dense kernel (a few KB per size rather than 64 x side floats). Along rows of RGB values
    (`rgb`), the luma weights are folded in: luma is linear, so it is applied once per grid
    cell rather than to every pixel."""
    weights, starts, stops = axis_kernel(side)
    bands = []
    for i in range(GRID):
        start, stop = int(starts[i]), int(stops[i])
        band = weights[i, start:stop]
        if rgb:
            band, start, stop = np.kron(band, LUMA), start * 3, stop * 3
        bands.append((start, stop, np.ascontiguousarray(band, dtype=np.float32)))
    return tuple(bands)


def compute(rgb: np.ndarray) -> tuple[np.ndarray, int, float]:
    """PDQ of an HxWx3 uint8 image as `pdqhash.compute` gives it: (32 packed hash bytes,
    quality), plus a margin: the gap between the two middle DCT coefficients, which is how far
    float rounding would have to move them to change a bit (infinite where the arithmetic is
    the reference's own: a 64x64 input, or a side under the minimum, which the reference hashes
    as all zeros of quality 0).

    Elsewhere the grid differs from the reference's running-sum box filter by float rounding
    (up to ~2e-3 on the coefficients of a 5640-pixel photo), so a margin below
    `SAFE_MARGIN` means the bits may not be the reference's."""
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"PDQ needs an HxWx3 image, got shape {rgb.shape}")
    height, width = rgb.shape[:2]
    if min(height, width) < MIN_HASHABLE_SIDE:
        return np.zeros(32, dtype=np.uint8), 0, float("inf")
    if rgb.dtype != np.uint8 or not rgb.flags.c_contiguous:
        rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    grid = luma_grid(rgb)
    coefficients = dct16(grid)[None]
    if height == GRID and width == GRID:
        margin = float("inf")
    else:
        middle = np.partition(coefficients.ravel(), (127, 128))[127:129]
        margin = float(middle[1] - middle[0])
    return _bits(coefficients)[0], int(_qualities(grid[None])[0]), margin
