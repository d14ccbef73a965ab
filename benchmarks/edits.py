"""Deterministic image edits: the modified copies people actually post.

Every edit is a pure function of (image, other images, seed): the same run always produces the
same pixels. Edits that bring in other pictures (picture-in-picture, collage) report which ones,
so that a match to those pictures is not counted as a wrong match.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageFont, ImageOps

Rgb = np.ndarray
# (image, pool of other images, rng) -> (edited image, indexes into the pool that it shows)
EditFn = Callable[
    [Image.Image, Sequence[Image.Image], np.random.Generator], tuple[Image.Image, list[int]]
]

_WORDS = [
    "breaking",
    "news",
    "they",
    "do",
    "not",
    "want",
    "you",
    "to",
    "see",
    "share",
    "before",
    "it",
    "is",
    "deleted",
    "watch",
    "until",
    "the",
    "end",
    "the",
    "truth",
    "about",
    "what",
    "happened",
    "today",
]


@dataclass(frozen=True)
class Edit:
    family: str
    strength: str
    # "photometric" edits keep the geometry; the others move, add or remove pixels.
    kind: str
    apply: EditFn


def _plain(fn: Callable[[Image.Image, np.random.Generator], Image.Image]) -> EditFn:
    return lambda image, _pool, rng: (fn(image, rng), [])


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=max(8, size))


def _text(rng: np.random.Generator, words: int) -> str:
    return " ".join(rng.choice(_WORDS, size=words)).upper()


def _colour(rng: np.random.Generator) -> tuple[int, int, int]:
    return tuple(int(v) for v in rng.integers(30, 226, size=3))  # type: ignore[return-value]


# --- photometric ------------------------------------------------------------------------
def jpeg(quality: int) -> EditFn:
    def fn(image: Image.Image, _rng: np.random.Generator) -> Image.Image:
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=quality)
        return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")

    return _plain(fn)


def downscale(factor: float) -> EditFn:
    def fn(image: Image.Image, _rng: np.random.Generator) -> Image.Image:
        size = (max(1, round(image.width * factor)), max(1, round(image.height * factor)))
        return image.resize(size, Image.Resampling.BILINEAR)

    return _plain(fn)


def blur(radius_per_1000: float) -> EditFn:
    def fn(image: Image.Image, _rng: np.random.Generator) -> Image.Image:
        radius = radius_per_1000 * max(image.size) / 1000
        return image.filter(ImageFilter.GaussianBlur(radius))

    return _plain(fn)


def noise(sigma: float) -> EditFn:
    def fn(image: Image.Image, rng: np.random.Generator) -> Image.Image:
        array = np.asarray(image, dtype=np.float32)
        noisy = array + rng.normal(0, sigma, size=array.shape)
        return Image.fromarray(noisy.clip(0, 255).astype(np.uint8))

    return _plain(fn)


def brightness(factor: float) -> EditFn:
    return _plain(lambda image, _rng: ImageEnhance.Brightness(image).enhance(factor))


def contrast(factor: float) -> EditFn:
    return _plain(lambda image, _rng: ImageEnhance.Contrast(image).enhance(factor))


def gamma(value: float) -> EditFn:
    table = [round(255 * (i / 255) ** value) for i in range(256)] * 3
    return _plain(lambda image, _rng: image.point(table))


def greyscale() -> EditFn:
    return _plain(lambda image, _rng: ImageOps.grayscale(image).convert("RGB"))


def sepia() -> EditFn:
    matrix = np.array([[0.393, 0.769, 0.189], [0.349, 0.686, 0.168], [0.272, 0.534, 0.131]])

    def fn(image: Image.Image, _rng: np.random.Generator) -> Image.Image:
        array = np.asarray(image, dtype=np.float32) @ matrix.T
        return Image.fromarray(array.clip(0, 255).astype(np.uint8))

    return _plain(fn)


def colour_filter(name: str) -> EditFn:
    gains = {"warm": (1.15, 1.0, 0.8), "cool": (0.85, 1.0, 1.2), "vivid": None}[name]

    def fn(image: Image.Image, _rng: np.random.Generator) -> Image.Image:
        if gains is None:
            return ImageEnhance.Color(image).enhance(1.8)
        array = np.asarray(image, dtype=np.float32) * np.array(gains, dtype=np.float32)
        return Image.fromarray(array.clip(0, 255).astype(np.uint8))

    return _plain(fn)


# --- geometric --------------------------------------------------------------------------
def mirror() -> EditFn:
    return _plain(lambda image, _rng: ImageOps.mirror(image))


def rotate(degrees: int) -> EditFn:
    transpose = {
        90: Image.Transpose.ROTATE_90,
        180: Image.Transpose.ROTATE_180,
        270: Image.Transpose.ROTATE_270,
    }
    if degrees in transpose:
        return _plain(lambda image, _rng: image.transpose(transpose[degrees]))

    def fn(image: Image.Image, rng: np.random.Generator) -> Image.Image:
        sign = 1 if rng.random() < 0.5 else -1
        return image.rotate(sign * degrees, resample=Image.Resampling.BILINEAR, expand=False)

    return _plain(fn)


def crop(percent: int, where: str) -> EditFn:
    """Remove `percent` of the side: from one edge (chosen per image) or around the centre."""
    cut = percent / 100

    def fn(image: Image.Image, rng: np.random.Generator) -> Image.Image:
        w, h = image.size
        if where == "centre":
            dx, dy = round(w * cut / 2), round(h * cut / 2)
            return image.crop((dx, dy, w - dx, h - dy))
        edge = int(rng.integers(0, 4))
        box = [
            (round(w * cut), 0, w, h),
            (0, round(h * cut), w, h),
            (0, 0, w - round(w * cut), h),
            (0, 0, w, h - round(h * cut)),
        ][edge]
        return image.crop(box)

    return _plain(fn)


def pad(percent: int, colour: str, style: str) -> EditFn:
    """Add `percent` of the side as bars: all round ("pad"), top+bottom ("letterbox")."""
    extra = percent / 100

    def fn(image: Image.Image, rng: np.random.Generator) -> Image.Image:
        fill = {"black": (0, 0, 0), "white": (255, 255, 255)}.get(colour) or _colour(rng)
        w, h = image.size
        add_w = round(w * extra) if style == "pad" else 0
        add_h = round(h * extra)
        canvas = Image.new("RGB", (w + add_w, h + add_h), fill)
        canvas.paste(image, (add_w // 2, add_h // 2))
        return canvas

    return _plain(fn)


def aspect(percent: int) -> EditFn:
    def fn(image: Image.Image, rng: np.random.Generator) -> Image.Image:
        w, h = image.size
        factor = 1 + percent / 100
        size = (round(w * factor), h) if rng.random() < 0.5 else (w, round(h * factor))
        return image.resize(size, Image.Resampling.BILINEAR)

    return _plain(fn)


# --- overlays ---------------------------------------------------------------------------
def caption(lines: int) -> EditFn:
    """A caption bar added above the picture, as messaging apps and news posts do."""

    def fn(image: Image.Image, rng: np.random.Generator) -> Image.Image:
        w, h = image.size
        size = max(12, w // 28)
        bar = lines * round(size * 1.4) + size
        canvas = Image.new("RGB", (w, h + bar), (255, 255, 255))
        canvas.paste(image, (0, bar))
        draw = ImageDraw.Draw(canvas)
        for line in range(lines):
            draw.text(
                (size // 2, size // 2 + line * round(size * 1.4)),
                _text(rng, 6).lower(),
                fill=(20, 20, 20),
                font=_font(size),
            )
        return canvas

    return _plain(fn)


def meme(where: str) -> EditFn:
    """Impact-style white text with a black outline over the top and/or bottom of the picture."""

    def fn(image: Image.Image, rng: np.random.Generator) -> Image.Image:
        out = image.copy()
        draw = ImageDraw.Draw(out)
        w, h = out.size
        size = max(12, h // 9)
        font = _font(size)
        spots = {"top": [0.03], "bottom": [0.85], "both": [0.03, 0.85]}[where]
        for y in spots:
            text = _text(rng, 3)
            width = draw.textlength(text, font=font)
            draw.text(
                ((w - width) / 2, y * h),
                text,
                fill=(255, 255, 255),
                font=font,
                stroke_width=max(1, size // 12),
                stroke_fill=(0, 0, 0),
            )
        return out

    return _plain(fn)


def logo(percent: int) -> EditFn:
    """An opaque channel logo (badge with initials) of `percent` of the width in a corner."""

    def fn(image: Image.Image, rng: np.random.Generator) -> Image.Image:
        out = image.copy()
        w, h = out.size
        side = max(8, round(w * percent / 100))
        badge = Image.new("RGB", (side, side // 2), _colour(rng))
        draw = ImageDraw.Draw(badge)
        draw.text(
            (side // 10, side // 12), _text(rng, 1)[:3], fill=(255, 255, 255), font=_font(side // 3)
        )
        corner = int(rng.integers(0, 4))
        margin = max(2, w // 50)
        x = margin if corner % 2 == 0 else w - side - margin
        y = margin if corner < 2 else h - side // 2 - margin
        out.paste(badge, (x, y))
        return out

    return _plain(fn)


def watermark(opacity: float) -> EditFn:
    """Semi-transparent text repeated across the picture."""

    def fn(image: Image.Image, rng: np.random.Generator) -> Image.Image:
        w, h = image.size
        layer = Image.new("L", (w, h), 0)
        draw = ImageDraw.Draw(layer)
        size = max(10, w // 18)
        text = _text(rng, 1)
        for row, y in enumerate(range(0, h, size * 4)):
            for x in range(-(row % 2) * size * 3, w, size * 6):
                draw.text((x, y), text, fill=255, font=_font(size))
        white = Image.new("RGB", (w, h), (255, 255, 255))
        mask = layer.point(lambda v: round(v * opacity))
        return Image.composite(white, image, mask)

    return _plain(fn)


def screenshot(area: float) -> EditFn:
    """The picture inside an app-like canvas: status bar, header, text lines, buttons."""

    def fn(image: Image.Image, rng: np.random.Generator) -> Image.Image:
        # Keep the picture's pixels and size the canvas around it: a little wider than the
        # picture, tall enough that the picture covers `area` of it.
        w, h = image.size
        cw = round(w * max(1.06, 0.85 / np.sqrt(area)))
        ch = max(round(w * h / (area * cw)), h + max(12, h // 10))
        canvas = Image.new("RGB", (cw, ch), (250, 250, 250) if rng.random() < 0.5 else (24, 24, 28))
        draw = ImageDraw.Draw(canvas)
        dark = canvas.getpixel((0, 0)) == (24, 24, 28)
        ink = (230, 230, 230) if dark else (30, 30, 30)
        bar = max(12, ch // 20)
        draw.rectangle((0, 0, cw, bar), fill=_colour(rng))
        draw.text((bar // 2, bar // 5), "9:41  app", fill=(255, 255, 255), font=_font(bar // 2))
        free = ch - h - bar
        top = bar + int(rng.integers(0, max(1, free // 2)))
        left = (cw - w) // 2
        size = max(10, cw // 30)
        for y in range(bar + size // 2, top - size, round(size * 1.6)):
            draw.text((size, y), _text(rng, 4).lower(), fill=ink, font=_font(size))
        canvas.paste(image, (left, top))
        y = top + h + size // 2
        while y < ch - size * 2:
            if rng.random() < 0.3:
                draw.rounded_rectangle(
                    (size, y, size * 7, y + size * 2), radius=size // 2, fill=_colour(rng)
                )
                y += size * 3
            else:
                draw.text((size, y), _text(rng, 5).lower(), fill=ink, font=_font(size))
                y += round(size * 1.6)
        return canvas

    return _plain(fn)


def picture_in_picture(percent: int) -> EditFn:
    """An unrelated picture inset over a corner (reaction videos, news studios)."""

    def fn(image: Image.Image, pool: Sequence[Image.Image], rng: np.random.Generator):
        out = image.copy()
        which = int(rng.integers(0, len(pool)))
        inset = pool[which]
        w, h = out.size
        iw = round(w * percent / 100)
        ih = max(1, round(iw * inset.height / inset.width))
        inset = inset.resize((iw, ih), Image.Resampling.BILINEAR)
        margin = max(2, w // 40)
        corner = int(rng.integers(0, 4))
        x = margin if corner % 2 == 0 else w - iw - margin
        y = margin if corner < 2 else h - ih - margin
        out.paste(ImageOps.expand(inset, border=max(1, w // 200), fill=(255, 255, 255)), (x, y))
        return out, [which]

    return fn


def collage(gutter: int) -> EditFn:
    """The picture as one tile of a 2x2 grid of pictures."""

    def fn(image: Image.Image, pool: Sequence[Image.Image], rng: np.random.Generator):
        others = [int(i) for i in rng.choice(len(pool), size=3, replace=False)]
        tiles = [image, *(pool[i] for i in others)]
        order = rng.permutation(4)
        tw, th = image.width // 2, image.height // 2
        g = round(tw * gutter / 100)
        canvas = Image.new("RGB", (2 * tw + 3 * g, 2 * th + 3 * g), (255, 255, 255))
        for slot, tile_index in enumerate(order):
            tile = tiles[tile_index].resize((tw, th), Image.Resampling.BILINEAR)
            canvas.paste(tile, (g + (slot % 2) * (tw + g), g + (slot // 2) * (th + g)))
        return canvas, others

    return fn


def combine(first: EditFn, second: EditFn) -> EditFn:
    def fn(image: Image.Image, pool: Sequence[Image.Image], rng: np.random.Generator):
        middle, shown = first(image, pool, rng)
        out, more = second(middle, pool, rng)
        return out, shown + more

    return fn


def all_edits() -> list[Edit]:
    p, g, o = "photometric", "geometric", "overlay"
    edits = [
        *(Edit("jpeg", f"q{q}", p, jpeg(q)) for q in (20, 50, 75)),
        *(Edit("downscale", f"{round(f * 100)}%", p, downscale(f)) for f in (0.25, 0.5)),
        *(Edit("blur", f"r{r:g}/1000", p, blur(r)) for r in (1.5, 3, 6)),
        *(Edit("noise", f"sigma{s}", p, noise(s)) for s in (8, 20)),
        *(Edit("brightness", f"x{f:g}", p, brightness(f)) for f in (0.6, 1.4)),
        *(Edit("contrast", f"x{f:g}", p, contrast(f)) for f in (0.6, 1.5)),
        *(Edit("gamma", f"{v:g}", p, gamma(v)) for v in (0.6, 1.6)),
        Edit("greyscale", "-", p, greyscale()),
        Edit("sepia", "-", p, sepia()),
        *(
            Edit("colour filter", name, p, colour_filter(name))
            for name in ("warm", "cool", "vivid")
        ),
        Edit("mirror", "horizontal", g, mirror()),
        *(Edit("rotate", f"{d}", g, rotate(d)) for d in (90, 180, 270)),
        *(Edit("rotate small", f"{d} deg", g, rotate(d)) for d in (2, 5, 10)),
        *(Edit("crop edge", f"{c}%", g, crop(c, "edge")) for c in (5, 10, 20, 30, 40)),
        *(Edit("crop centre", f"{c}%", g, crop(c, "centre")) for c in (5, 10, 20, 30, 40)),
        *(
            Edit("pad", f"{c}% {colour}", g, pad(c, colour, "pad"))
            for c in (10, 50, 100)
            for colour in ("black", "white", "colour")
        ),
        *(
            Edit("letterbox", f"{c}% {colour}", g, pad(c, colour, "letterbox"))
            for c in (10, 25, 50, 100)
            for colour in ("black", "colour")
        ),
        *(Edit("aspect", f"+{a}%", g, aspect(a)) for a in (10, 20, 40)),
        *(Edit("caption", f"{n} lines", o, caption(n)) for n in (1, 3)),
        *(Edit("meme text", where, o, meme(where)) for where in ("top", "bottom", "both")),
        *(Edit("logo", f"{c}% width", o, logo(c)) for c in (10, 20)),
        *(Edit("watermark", f"opacity {a:g}", o, watermark(a)) for a in (0.3, 0.6)),
        *(Edit("screenshot", f"{round(a * 100)}% area", o, screenshot(a)) for a in (0.3, 0.5, 0.8)),
        *(Edit("picture-in-picture", f"inset {c}%", o, picture_in_picture(c)) for c in (25, 33)),
        *(Edit("collage 2x2", f"gutter {c}%", o, collage(c)) for c in (0, 3)),
        Edit("combo", "mirror+crop 10%", g, combine(mirror(), crop(10, "edge"))),
        Edit("combo", "jpeg q30+pad 25%", g, combine(jpeg(30), pad(25, "black", "pad"))),
        Edit("combo", "caption+downscale 50%", o, combine(caption(2), downscale(0.5))),
        Edit("combo", "rotate 5+jpeg q50", g, combine(rotate(5), jpeg(50))),
        Edit(
            "combo",
            "greyscale+letterbox 50%",
            g,
            combine(greyscale(), pad(50, "black", "letterbox")),
        ),
        Edit("combo", "crop centre 10%+meme", o, combine(crop(10, "centre"), meme("both"))),
    ]
    return edits
