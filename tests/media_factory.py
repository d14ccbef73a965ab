"""Small media files made at test time (nothing binary is committed)."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image


def photo_like(width: int = 640, height: int = 480, seed: int = 0) -> Image.Image:
    """A deterministic image with structure at several scales (PDQ needs some)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.sin(x / (17 + seed)) * 60 + np.cos(y / (23 + seed)) * 60 + 128
    blocks = (
        rng.integers(0, 80, size=(height // 40 + 1, width // 40 + 1)).repeat(40, 0).repeat(40, 1)
    )
    grey = base + blocks[:height, :width]
    rgb = np.stack([grey, np.roll(grey, 7, axis=1), 255 - grey], axis=2)
    return Image.fromarray(rgb.clip(0, 255).astype(np.uint8), "RGB")


def write_image(path: Path, fmt: str = "JPEG", **kwargs: object) -> Path:
    photo_like(**kwargs).save(path, fmt)  # type: ignore[arg-type]
    return path


def image_bytes(fmt: str = "JPEG", **kwargs: object) -> bytes:
    buffer = io.BytesIO()
    photo_like(**kwargs).save(buffer, fmt)  # type: ignore[arg-type]
    return buffer.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bomb(path: Path, width: int = 50_000, height: int = 50_000) -> Path:
    """A PNG that declares width x height 8-bit grey pixels with a compressed zero stream.

    The first rows are real deflate data, so a decoder without a size guard would start
    allocating gigabytes; the guard must refuse it from the header alone.
    """
    header = _png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
    compressor = zlib.compressobj(9)
    row = b"\x00" * (width + 1)
    body = b"".join(compressor.compress(row) for _ in range(64)) + compressor.flush()
    data = b"\x89PNG\r\n\x1a\n" + header + _png_chunk(b"IDAT", body) + _png_chunk(b"IEND", b"")
    path.write_bytes(data)
    return path


def scene_frames(
    seconds: int, fps: int, size: tuple[int, int], photos: list[Path], seed: int = 0
) -> list[np.ndarray]:
    """Frames of a video whose scene changes every second (a different real photo, so each
    second hashes apart), with a slow pan inside each scene, as in real footage."""
    width, height = size
    order = np.random.default_rng(seed).permutation(len(photos))
    frames = []
    for second in range(seconds):
        with Image.open(photos[order[second % len(photos)]]) as photo:
            scene = np.asarray(photo.convert("RGB").resize((width + fps * 2, height)))
        for step in range(fps):
            frames.append(np.ascontiguousarray(scene[:, step * 2 : step * 2 + width]))
    return frames


def write_video(
    path: Path,
    frames: list[np.ndarray],
    fps: int,
    size: tuple[int, int] | None = None,
    codec: str = "libx264",
    bitrate: int | None = None,
) -> Path:
    """Encode RGB frames as H.264 with proper timestamps (optionally rescaled)."""
    import av  # imported here: most tests of this module need only Pillow

    height, width = frames[0].shape[:2]
    out_width, out_height = size or (width, height)
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = out_width, out_height, "yuv420p"
        if bitrate:
            stream.bit_rate = bitrate
        for rgb in frames:
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame = frame.reformat(width=out_width, height=out_height, format="yuv420p")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
