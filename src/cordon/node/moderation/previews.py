"""Content previews for reviewers: greyscale and blurred by default (reviewer wellbeing),
the original colours on request; images, and the first frame of a video."""

from __future__ import annotations

import io

from PIL import Image, ImageFilter, ImageOps

from cordon.node.moderation.context import Context, NotFound
from cordon.node.moderation.queue import case_row
from cordon.node.service import NodeError

PREVIEW_SIDE = 640
BLUR_RADIUS = 18
# Decoding bombs: previews refuse images larger than this many pixels.
MAX_PIXELS = 80_000_000


class Gone(NodeError):
    status = 410


def _first_frame(data: bytes) -> Image.Image:
    import av

    try:
        with av.open(io.BytesIO(data)) as container:
            for frame in container.decode(video=0):
                return frame.to_image()
    except (av.error.FFmpegError, StopIteration, IndexError, ValueError) as exc:
        raise NodeError(f"no preview: the video does not decode ({type(exc).__name__})",
                        422) from None
    raise NodeError("no preview: the video has no frame", 422)


def _open(data: bytes) -> Image.Image:
    try:
        image = Image.open(io.BytesIO(data))
        if image.width * image.height > MAX_PIXELS:
            raise NodeError("no preview: the image is too large to decode", 422)
        image.draft("RGB", (PREVIEW_SIDE, PREVIEW_SIDE))
        image.load()
        return image
    except (OSError, Image.DecompressionBombError, SyntaxError):
        return _first_frame(data)


def preview(ctx: Context, case_id: int, reveal: bool = False) -> bytes:
    with ctx.store.read() as conn:
        case = case_row(conn, case_id)
    if case.evidence is None:
        raise NotFound(f"case {case_id} has no content held on this node")
    try:
        data = ctx.vault.get(case.evidence)
    except FileNotFoundError:
        raise Gone(f"the content of case {case_id} has been purged") from None
    image = ImageOps.exif_transpose(_open(data)).convert("RGB")
    image.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE))
    if not reveal:
        image = ImageOps.grayscale(image).filter(ImageFilter.GaussianBlur(BLUR_RADIUS))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=80)
    return out.getvalue()
