"""Guarded image decoding for perceptual hashing.

PDQ only looks at a 64x64 luma grid (through a box filter of about 1/128 of the side), so
decoding a 4000-pixel photo at full size is wasted work: the JPEG decoder can scale down by
1/2, 1/4 or 1/8 during the inverse DCT (Pillow's `draft`), other formats are box-reduced by an
integer factor, and PDQ then filters a few hundred thousand pixels instead of ten million.
Most photos hash within a few bits of the full-size hash that way; smooth pictures (gradients,
skies) have many DCT coefficients near the median and drift more, so when the reduced hash is
not stable under one more halving we decode at twice the size (see docs/benchmarks.md).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from cordon.errors import MediaError
from cordon.media.limits import MediaLimits

# Smallest side we ask the decoders for. 512 keeps the Jarosz filter of PDQ averaging
# windows of 4+ decoded pixels, which is where reduced decoding stops drifting most hashes.
PDQ_DECODE_SIDE = 512
# A reduced decode whose PDQ moves by this many bits when halved once more is fragile: its
# hash is decoded again at twice the size (PDQ bits flip in pairs around the median).
_UNSTABLE_BITS = 12
# Modes whose channels are independent, so a box reduce before conversion gives the same
# pixels as after it; others (alpha is premultiplied by `reduce`, palettes cannot be
# averaged, wide modes are rescaled on their range) are converted to RGB first.
_REDUCE_FIRST_MODES = {"RGB", "L", "CMYK", "YCbCr", "RGBX"}
# Modes with straight (not premultiplied) alpha, which the core reduce averages per channel.
_STRAIGHT_ALPHA_MODES = {"RGBA", "LA"}

# Pillow's own bomb check is a warning below 2x its limit; we enforce our limit ourselves.
Image.MAX_IMAGE_PIXELS = None
ImageFile.LOAD_TRUNCATED_IMAGES = False

# Modes that Pillow cannot convert straight to RGB, or converts badly (16/32-bit data clips).
_WIDE_MODES = {"I", "I;16", "I;16B", "I;16L", "I;16N", "F"}


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().rstrip(".")
    return text[:1].lower() + text[1:] if text else exc.__class__.__name__


def open_image(path: Path, limits: MediaLimits) -> Image.Image:
    """Open an image lazily (header only) and enforce the pixel limit before decoding."""
    try:
        image = Image.open(path)
    except UnidentifiedImageError:
        raise MediaError("not a decodable image (unknown or corrupt format)") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise MediaError(f"cannot read the image header: {_describe(exc)}") from None
    width, height = image.size
    if width <= 0 or height <= 0:
        raise MediaError(f"the image declares an empty size ({width}x{height})")
    if width * height > limits.max_image_pixels:
        raise MediaError(
            f"the image declares {width}x{height} pixels, over the limit of "
            f"{limits.max_image_pixels:,} pixels (possible decompression bomb)"
        )
    return image


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode == "RGB":
        return image
    if image.mode in _WIDE_MODES:
        # Scale the real range of wide integer/float data to 8 bits instead of clipping.
        array = np.asarray(image, dtype=np.float64)
        low, high = float(np.nanmin(array)), float(np.nanmax(array))
        scale = 255.0 / (high - low) if high > low else 0.0
        grey = np.nan_to_num((array - low) * scale).clip(0, 255).astype(np.uint8)
        return Image.fromarray(grey, "L").convert("RGB")
    # Alpha is dropped, not composited: that is what the reference implementations and
    # python-threatexchange do, so hashes of transparent images stay interoperable.
    return image.convert("RGB")


def _reduced(image: Image.Image, min_side: int) -> Image.Image:
    """Decode (at reduced scale where the format allows) and box-reduce to about `min_side`."""
    if image.format == "JPEG":
        image.draft("RGB", (min_side, min_side))
    image.load()
    factor = min(image.size) // min_side
    if factor >= 2 and image.mode in _STRAIGHT_ALPHA_MODES:
        reduced = _reduce_channels(image, factor)
        if reduced is not None:
            return reduced
    if image.mode not in _REDUCE_FIRST_MODES:
        image = _to_rgb(image)
    if factor >= 2:
        # Formats without scaled decoding (PNG, WebP...): a box reduce is what PDQ's own
        # filter would do, at a fraction of the cost of filtering every pixel.
        image = image.reduce(factor)
    return image


def _reduce_channels(image: Image.Image, factor: int) -> Image.Image | None:
    """Box-reduce every channel on its own, alpha included, as Pillow's core reduce does.

    `Image.reduce` premultiplies alpha first, which changes the colour of transparent pixels
    (and so the hash, as alpha is dropped); converting a full-size image to RGB before
    reducing avoids that but costs more than the reduce. Reducing the channels independently
    and dropping alpha afterwards gives the same pixels at a third of the cost. None where
    this Pillow has no core reduce (the caller then converts first)."""
    core = getattr(image.im, "reduce", None)
    if core is None:
        return None
    return image._new(core((factor, factor), (0, 0, *image.size)))


def _finish(image: Image.Image) -> np.ndarray:
    # In place: without an orientation to apply, the copying form returns a copy.
    ImageOps.exif_transpose(image, in_place=True)
    array = np.asarray(_to_rgb(image))
    if array.ndim != 3 or array.shape[2] != 3 or array.size == 0:
        raise MediaError("the image decoded to an unexpected pixel layout")
    return array


def _unstable(rgb: np.ndarray) -> bool:
    """True when the PDQ hash of a reduced decode moves a lot under one more halving."""
    # Imported here: the media layer only borrows PDQ to size its decodes.
    from cordon.signals.pdq import hamming, hash_rgb

    if min(rgb.shape[:2]) < 128:
        return False
    half = hash_rgb(np.asarray(Image.fromarray(rgb).reduce(2)))
    # `rgb` last: its hash stays cached for the PDQ signal, which hashes the same array next.
    return hamming(hash_rgb(rgb).hex, half.hex) >= _UNSTABLE_BITS


def _decode(
    path: Path, image: Image.Image, limits: MediaLimits, min_side: int | None
) -> np.ndarray:
    full_side = min(image.size)
    if min_side is None or full_side < 2 * min_side:
        image.load()
        return _finish(image)
    array = _finish(_reduced(image, min_side))
    if min(array.shape[:2]) * 2 <= full_side and _unstable(array):
        # Fragile hash: decode again at twice the size (the header is re-read because a
        # JPEG's decode scale can only be chosen before its pixels are loaded).
        array = _finish(_reduced(open_image(path, limits), 2 * min_side))
    return array


def decode_rgb(
    path: Path,
    limits: MediaLimits,
    *,
    min_side: int | None = PDQ_DECODE_SIDE,
) -> np.ndarray:
    """Decode an image as an HxWx3 uint8 array, upright (EXIF orientation applied).

    With `min_side`, large images come back reduced (by scaled JPEG decoding or an integer
    box reduce) with sides still at least `min_side`; None decodes at full resolution.
    """
    image = open_image(path, limits)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _decode(path, image, limits, min_side)
    except MediaError:
        raise
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise MediaError(f"the image is truncated or corrupt: {_describe(exc)}") from None
    except MemoryError:
        raise MediaError("the image is too large to decode in memory") from None
    except Image.DecompressionBombError as exc:  # defensive: we disable the global limit
        raise MediaError(f"possible decompression bomb: {_describe(exc)}") from None


def is_animated(path: Path, limits: MediaLimits) -> bool:
    """True for GIF/WebP/PNG files with more than one frame (they are hashed as videos)."""
    image = open_image(path, limits)
    try:
        return bool(getattr(image, "is_animated", False))
    except (OSError, ValueError, SyntaxError, EOFError):
        return False
