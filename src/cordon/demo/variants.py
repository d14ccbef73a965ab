"""Edited copies of banked media, as uploaders make them to dodge exact-hash matching:
a video re-encoded smaller, letterboxed, with a channel logo and a few seconds cut."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from cordon.errors import CordonError

# How long the variant lasts at most: enough for a frame-level match, quick to encode.
MAX_SECONDS = 20.0


def _edit(frame: Image.Image, width: int, height: int, logo: str) -> Image.Image:
    """Shrunk to 80% inside black bars, a logo in the top-left corner."""
    inner = frame.resize((int(width * 0.8) // 2 * 2, int(height * 0.8) // 2 * 2))
    canvas = Image.new("RGB", (width, height))
    canvas.paste(inner, ((width - inner.width) // 2, (height - inner.height) // 2))
    draw = ImageDraw.Draw(canvas)
    side = max(8, width // 12)
    draw.rectangle((side // 2, side // 2, side * 2, side), fill=(230, 40, 40))
    draw.text((side // 2 + 3, side // 2 + 1), logo, fill=(255, 255, 255))
    return canvas


def video_variant(source: Path, out: Path, skip_seconds: float = 1.0,
                  logo: str = "RE-UP") -> Path:
    """Write an edited copy of `source` to `out` (H.264; MP4 or MPEG-TS by the suffix)."""
    import av

    try:
        with av.open(str(source)) as given, av.open(str(out), "w") as made:
            stream = given.streams.video[0]
            rate = stream.average_rate or 25
            context = stream.codec_context
            width, height = context.width // 2 * 2, context.height // 2 * 2
            encoder = made.add_stream("libx264", rate=rate)
            encoder.width, encoder.height, encoder.pix_fmt = width, height, "yuv420p"
            encoder.bit_rate = 400_000
            for frame in given.decode(stream):
                seconds = float(frame.time or 0.0)
                if seconds < skip_seconds:
                    continue
                if seconds > skip_seconds + MAX_SECONDS:
                    break
                edited = _edit(frame.to_image(), width, height, logo)
                picture = av.VideoFrame.from_ndarray(np.asarray(edited), format="rgb24")
                for packet in encoder.encode(picture.reformat(format="yuv420p")):
                    made.mux(packet)
            for packet in encoder.encode():
                made.mux(packet)
    except (av.error.FFmpegError, OSError, IndexError) as exc:
        raise CordonError(f"cannot make a variant of {source}: {exc}") from None
    return out
