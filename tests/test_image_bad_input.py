"""Hostile and broken images: one clear error for that file, bounded time and memory."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from PIL import Image

from cordon.hashing import hash_file
from cordon.media.limits import MediaLimits
from cordon.signals import HashOptions, get_signal_type
from tests.media_factory import image_bytes, png_bomb

PDQ = get_signal_type("pdq")


def _assert_one_sentence(error: str | None) -> None:
    assert error, "expected an error"
    assert "\n" not in error and "Traceback" not in error and len(error) < 300


def test_zero_byte_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    result = hash_file(empty)
    _assert_one_sentence(result.error)
    assert "empty" in result.error and result.signals == {}


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "GIF"])
def test_truncated_image(tmp_path: Path, fmt: str) -> None:
    data = image_bytes(fmt, width=800, height=600)
    path = tmp_path / f"cut.{fmt.lower()}"
    path.write_bytes(data[: len(data) // 2])
    result = hash_file(path, [PDQ])
    _assert_one_sentence(result.error)
    assert result.signals == {}


def test_corrupt_bytes_inside_an_image_never_raise(tmp_path: Path) -> None:
    data = bytearray(image_bytes("PNG", width=400, height=300))
    for offset in range(200, len(data), 97):
        data[offset] ^= 0xFF
    path = tmp_path / "corrupt.png"
    path.write_bytes(bytes(data))
    result = hash_file(path, [PDQ])
    _assert_one_sentence(result.error)  # the PNG checksums catch the damage


def test_garbage_with_an_image_magic_number(tmp_path: Path) -> None:
    path = tmp_path / "fake.jpg"
    path.write_bytes(b"\xff\xd8\xff\xe0" + os.urandom(5000))
    result = hash_file(path)
    _assert_one_sentence(result.error)


def test_decompression_bomb_is_refused_from_its_header(tmp_path: Path) -> None:
    bomb = png_bomb(tmp_path / "bomb.png")
    started = time.monotonic()
    result = hash_file(bomb)
    assert time.monotonic() - started < 5
    _assert_one_sentence(result.error)
    assert "50000x50000" in result.error and "limit" in result.error


def test_pixel_limit_is_configurable(tmp_path: Path) -> None:
    path = tmp_path / "big.png"
    Image.new("RGB", (300, 300), "white").save(path)
    strict = HashOptions(limits=MediaLimits(max_image_pixels=100 * 100))
    assert "limit" in (hash_file(path, [PDQ], strict).error or "")
    assert hash_file(path, [PDQ]).error is None


@pytest.mark.parametrize("size", [(1, 1), (2, 3), (1, 500), (4, 4)])
def test_tiny_images_hash(tmp_path: Path, size: tuple[int, int]) -> None:
    path = tmp_path / "tiny.png"
    Image.new("RGB", size, (200, 30, 30)).save(path)
    result = hash_file(path, [PDQ])
    assert result.error is None and len(result.signals["pdq"].hex) == 64


@pytest.mark.parametrize("mode", ["I;16", "I", "F", "CMYK", "LA", "RGBA", "P", "1", "L"])
def test_unusual_modes_hash(tmp_path: Path, mode: str) -> None:
    source = Image.open(__import__("io").BytesIO(image_bytes("PNG"))).convert("L")
    if mode in ("I;16", "I"):
        image = Image.frombytes(
            "I;16", source.size, bytes(b for v in source.tobytes() for b in (0, v))
        )
        fmt, suffix = "PNG", "png"
        if mode == "I":
            image, fmt, suffix = image.convert("I"), "TIFF", "tiff"
    elif mode == "F":
        image, fmt, suffix = source.convert("F"), "TIFF", "tiff"
    elif mode == "CMYK":
        image, fmt, suffix = source.convert("CMYK"), "JPEG", "jpg"
    else:
        image, fmt, suffix = source.convert(mode), "PNG", "png"
    path = tmp_path / f"mode.{suffix}"
    image.save(path, fmt)
    result = hash_file(path, [PDQ])
    assert result.error is None, result.error
    assert result.signals["pdq"].quality > 0


def test_unreadable_file_is_an_error_for_that_file() -> None:
    # /proc/self/mem is a regular file that refuses plain reads, even for root.
    result = hash_file(Path("/proc/self/mem"))
    _assert_one_sentence(result.error)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_permission_denied(tmp_path: Path) -> None:
    path = tmp_path / "secret.jpg"
    path.write_bytes(image_bytes())
    path.chmod(0)
    assert hash_file(path).error == "permission denied"
