"""Copies of flat pictures (silhouettes, blank crops) that used to match another original."""

from __future__ import annotations

import numpy as np
from PIL import ImageOps

from cordon.index.pdq import PdqIndex
from cordon.index.pdq_robust import RobustPdqIndex
from cordon.signals.pdq import hamming, hash_rgb
from cordon.signals.pdq_robust import (
    FLAT_VIEW_QUALITY,
    FLAT_VIEW_SHARE,
    Role,
    compute,
    flat_share,
)
from tests.shared_data import as_posted, corpus_image


def _distances(query: np.ndarray, banked: np.ndarray) -> np.ndarray:
    return np.unpackbits(query[:, None, :] ^ banked[None, :, :], axis=2).sum(axis=2)


def test_a_blank_crop_matches_no_other_blank_picture_with_plain_pdq() -> None:
    # The centre of 0001 is one flat colour; so is the whole of 0008. Both hash alike.
    image = corpus_image("0001.jpg")
    w, h = image.size
    crop = as_posted(image.crop((round(w * 0.15), round(h * 0.15), w - round(w * 0.15),
                               h - round(h * 0.15))))
    query = hash_rgb(crop)
    flat = hash_rgb(np.asarray(corpus_image("0008.jpg")))
    textured = hash_rgb(np.asarray(corpus_image("0002.jpg")))
    assert query.quality is not None and query.quality < 20
    assert hamming(query.hex, flat.hex) <= 31  # what used to match
    index = PdqIndex()
    index.add(8, flat)
    index.add(2, textured)
    assert index.query(query) == []
    assert [m.key for m in index.query(textured)] == [2]


def test_views_of_a_silhouette_are_not_detailed_and_match_no_other_silhouette() -> None:
    # Two different white hearts on black: their crops hash within 20 bits of each other.
    heart = corpus_image("0061.jpg")
    w, h = heart.size
    cropped = as_posted(heart.crop((0, 0, w, h - round(h * 0.3))))
    query = compute(cropped)
    other = compute(np.asarray(corpus_image("0060.jpg")))
    distances = _distances(query.hashes, other.hashes[other.roles <= Role.REGION])
    assert distances.min() <= 20
    # Every pair that close has a mostly flat crop on one side, no longer detailed.
    banked_qualities = other.qualities[other.roles <= Role.REGION]
    for row, column in zip(*np.nonzero(distances <= 20), strict=True):
        assert min(query.qualities[row], banked_qualities[column]) <= FLAT_VIEW_QUALITY
    index = RobustPdqIndex()
    index.add(60, other)
    assert index.query(query) == []
    # The same crop still finds its own heart.
    index.add(61, compute(np.asarray(heart)))
    assert [m.key for m in index.query(query)] == [61]


def test_flat_share_counts_flat_blocks() -> None:
    views = np.zeros((3, 64, 64), np.uint8)
    views[1, :, 32:] = 255  # a silhouette edge: flat blocks on both sides
    views[2] = np.random.default_rng(1).integers(0, 256, (64, 64))
    shares = flat_share(views)
    assert shares[0] == 1.0 and shares[1] == 1.0 and shares[2] == 0.0
    assert FLAT_VIEW_SHARE < 1.0


def test_a_mirrored_crop_of_a_bat_is_not_verified_against_another_bat() -> None:
    # The keypoints of two bat silhouettes agree on 14 points under a map that squeezes one
    # axis 2.4 times more than the other: accepted before the stretch limit.
    bat = ImageOps.mirror(corpus_image("0062.jpg"))
    w, h = bat.size
    query = compute(as_posted(bat.crop((0, round(h * 0.1), w, h))))
    other = compute(np.asarray(corpus_image("0063.jpg")))
    before = RobustPdqIndex(max_stretch=2.5)
    before.add(63, other)
    assert [m.key for m in before.query(query)] == [63]
    now = RobustPdqIndex()
    now.add(63, other)
    assert now.query(query) == []
    # The copy is still found from its own original.
    now.add(62, compute(np.asarray(corpus_image("0062.jpg"))))
    assert [m.key for m in now.query(query)] == [62]


def test_the_stretch_limit_is_an_index_option() -> None:
    assert RobustPdqIndex(max_stretch=2.5).options()["max_stretch"] == 2.5
    assert RobustPdqIndex().options()["max_stretch"] < 2
