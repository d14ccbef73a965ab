"""pdq-robust: the banked centre crops, the untrimmed views, the low-quality view rule, and the
benchmark's same-content check for a picture shown twice."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from cordon.index.pdq_robust import LOW_VIEW_THRESHOLD, RobustPdqIndex
from cordon.media.normalize import Box, border_box
from cordon.signals.pdq_numpy import pdq_views
from cordon.signals.pdq_robust import (
    BANK_REGIONS,
    WHOLE_REGIONS,
    RobustPdq,
    Role,
    _fraction_box,
    _view,
    compute,
    grey_working_copy,
)
from tests.shared_data import CORPUS, as_posted, corpus_image, require


def _centre_crop(image: Image.Image, percent: int) -> Image.Image:
    """`percent` of each side removed, half on either end (the benchmark's centre crop)."""
    w, h = image.size
    dx, dy = round(w * percent / 200), round(h * percent / 200)
    return image.crop((dx, dy, w - dx, h - dy))


def _meme(image: Image.Image) -> Image.Image:
    """White text with a black outline across the top and the bottom of the picture."""
    out = image.copy()
    draw = ImageDraw.Draw(out)
    w, h = out.size
    size = max(12, h // 9)
    font = ImageFont.load_default(size=size)
    for y, text in ((0.03, "THEY DO NOT WANT"), (0.85, "SHARE BEFORE IT ENDS")):
        width = draw.textlength(text, font=font)
        draw.text(((w - width) / 2, y * h), text, fill=(255, 255, 255), font=font,
                  stroke_width=max(1, size // 12), stroke_fill=(0, 0, 0))
    return out


def _index(*names: str) -> RobustPdqIndex:
    index = RobustPdqIndex()
    for key, name in enumerate(names):
        index.add(key, compute(np.asarray(corpus_image(name))))
    return index


def _matched(index: RobustPdqIndex, query: np.ndarray) -> dict[int, str]:
    return {m.key: str(m.detail["via"]) for m in index.query(compute(query))}


def test_a_copy_cut_around_the_centre_of_a_chessboard_matches_the_banked_5_percent_crop() -> None:
    # A photograph of a chessboard: cut by 5% a side, its PDQ is 70 bits from the picture and
    # from the banked crop of 10% a side; its keypoints (corners alike) do not verify.
    original = corpus_image("0038.jpg")
    copy = as_posted(_centre_crop(original, 10))
    banked = compute(np.asarray(original))
    regions = banked.hashes[banked.roles == Role.REGION]
    full = compute(copy).hashes[0]
    distances = np.unpackbits(regions ^ full, axis=1).sum(axis=1)
    # The crop of 5% a side is banked and is the copy.
    assert distances[BANK_REGIONS.index((0.05, 0.05, 0.95, 0.95))] <= 8
    assert _matched(_index("0038.jpg", "0047.jpg", "0032.jpg"), copy) == {0: "view"}


def test_a_copy_cut_by_5_percent_matches_through_its_own_centre_crop() -> None:
    # Cut by 2.5% a side, the chessboard target is matched by the query's centre crop of 2.5%
    # a side (queried only), which is the banked crop of 5% a side.
    original = corpus_image("0136.jpg")
    copy = as_posted(_centre_crop(original, 5))
    value = compute(copy)
    grey = grey_working_copy(copy)
    part = _view(_fraction_box(border_box(grey), (0.025, 0.025, 0.975, 0.975)).crop(grey))
    part_hash = pdq_views(part[None])[0][0]
    assert any((value.hashes[value.roles == Role.PART] == part_hash).all(axis=1))
    assert _matched(_index("0136.jpg", "0135.jpg"), copy) == {0: "view"}


def test_a_framed_picture_cut_around_the_centre_matches_the_untrimmed_crop() -> None:
    # 0269 is trimmed (its soft edges look like bars); the copy cut by 10% a side has lost
    # them, so its picture is a crop of the file, banked only as an untrimmed view.
    original = corpus_image("0269.jpg")
    banked = compute(np.asarray(original))
    grey = grey_working_copy(np.asarray(original))
    whole = Box(0, 0, *grey.shape)
    assert border_box(grey) != whole
    views = np.stack([_view(_fraction_box(whole, f).crop(grey)) for f in WHOLE_REGIONS])
    expected = pdq_views(views)[0]
    regions = banked.hashes[banked.roles == Role.REGION]
    assert (regions[-len(WHOLE_REGIONS):] == expected).all()
    assert _matched(_index("0269.jpg", "0266.jpg"), as_posted(_centre_crop(original, 20))) == {
        0: "view"
    }


def test_meme_text_over_a_frame_matches_the_untrimmed_middle_band() -> None:
    # Text written across a thin frame stops the trimming: the copy's middle band is the
    # middle band of the whole file.
    original = corpus_image("0203.jpg")
    assert 0 in _matched(_index("0203.jpg", "0227.jpg"), as_posted(_meme(original)))


def _value(hashes: list[np.ndarray], roles: list[Role], qualities: list[int]) -> RobustPdq:
    return RobustPdq(
        hashes=np.stack(hashes).astype(np.uint8),
        roles=np.array(roles, np.uint8),
        qualities=np.array(qualities, np.uint8),
        points=np.zeros((0, 2), np.float32),
        descriptors=np.zeros((0, 32), np.uint8),
        size=(320, 240),
    )


def _flip(value: np.ndarray, bits: int) -> np.ndarray:
    flipped = np.unpackbits(value).copy()
    flipped[:bits] ^= 1
    return np.packbits(flipped)


def test_low_quality_views_match_alone_only_when_nearly_identical() -> None:
    rng = np.random.default_rng(7)
    banked_full, query_full, crop = (rng.integers(0, 256, 32, dtype=np.uint8) for _ in range(3))
    index = RobustPdqIndex()
    index.add(1, _value([banked_full, crop], [Role.FULL, Role.REGION], [100, 35]))
    # The whole pictures are unrelated (about 128 bits apart); only the crops agree.

    def query(bits: int, quality: int) -> RobustPdq:
        return _value([query_full, _flip(crop, bits)], [Role.FULL, Role.REGION], [100, quality])

    assert [m.key for m in index.query(query(LOW_VIEW_THRESHOLD, 35))] == [1]
    assert index.query(query(LOW_VIEW_THRESHOLD + 1, 35)) == []
    # Under PDQ's own floor of quality 20 a view says nothing, however close.
    assert index.query(query(0, 19)) == []
    assert RobustPdqIndex(low_view_threshold=-1).options()["low_view_threshold"] == -1
    strict = RobustPdqIndex(low_view_threshold=-1)
    strict.add(1, _value([banked_full, crop], [Role.FULL, Role.REGION], [100, 35]))
    assert strict.query(query(0, 35)) == []


def _benchmark() -> ModuleType:
    path = str(Path(__file__).resolve().parents[1] / "benchmarks")
    if path not in sys.path:
        sys.path.insert(0, path)
    return importlib.import_module("robustness")


def test_benchmark_counts_a_picture_shown_twice_as_the_same_content() -> None:
    # 0206 shows the "cameraman" photograph twice (a feature-matching illustration), 0137
    # the same photograph under drawn lines: whole against whole, the ratio test discards
    # the matches to both copies (9 inliers); against the left half of 0206, 33 or more.
    robustness = _benchmark()
    images = CORPUS / "images"
    cameraman, twice = str(require(images / "0137.jpg")), str(require(images / "0206.jpg"))
    whole = (cameraman, None), (twice, None)
    assert robustness._sift_inliers(*whole) < robustness.SIFT_MIN_INLIERS
    assert robustness._same((cameraman, None), (twice, "left"))
    assert robustness.related(cameraman, twice)
    # A picture unrelated to both halves stays unrelated.
    assert not robustness.related(str(require(images / "0029.jpg")), twice)
