"""pdq-robust: border trimming, views, keypoint verification and the compact form."""

from __future__ import annotations

import base64

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageOps

from cordon.content import ContentType
from cordon.errors import CordonError, SignalFormatError
from cordon.index.pdq_robust import RobustPdqIndex
from cordon.matching import Matcher
from cordon.media.normalize import Box, border_box, content_box, edge_boxes, grid_cells
from cordon.signals import get_signal_type, matching_signal_types
from cordon.signals.base import HashOptions
from cordon.signals.pdq import hash_rgb
from cordon.signals.pdq_robust import _HEADER_V1, Role, compute, pdq_views
from tests.media_factory import photo_like

ROBUST = get_signal_type("pdq-robust")
PDQ = get_signal_type("pdq")


def _photo(seed: int, size: tuple[int, int] = (480, 360)) -> np.ndarray:
    """A textured picture with keypoints: smooth structure plus random rectangles."""
    rng = np.random.default_rng(seed)
    image = np.asarray(photo_like(*size, seed=seed)).copy()
    for _ in range(40):
        x, y = rng.integers(0, size[0] - 40), rng.integers(0, size[1] - 40)
        w, h = rng.integers(8, 40, size=2)
        image[y : y + h, x : x + w] = rng.integers(0, 256, size=3)
    return image


def _pad(rgb: np.ndarray, top: int, left: int, colour: tuple[int, int, int]) -> np.ndarray:
    image = Image.fromarray(rgb)
    return np.asarray(ImageOps.expand(image, border=(left, top, left, top), fill=colour))


def _matches(bank: dict[int, np.ndarray], query: np.ndarray, signal_name: str) -> set[int]:
    signal = get_signal_type(signal_name)
    matcher = Matcher()
    for key, rgb in bank.items():
        matcher.add(key, {signal.name: signal.hash_image(rgb, HashOptions())})
    value = signal.hash_image(query, HashOptions())
    return {m.entry_id for m in matcher.match({signal.name: value})}


def test_border_box_finds_the_picture_inside_bars_of_any_colour() -> None:
    picture = _photo(1, (200, 120))
    padded = _pad(picture, top=30, left=0, colour=(0, 0, 0))
    padded = _pad(padded, top=0, left=17, colour=(200, 40, 90))
    assert border_box(padded) == Box(30, 17, 150, 217)
    # Nothing to trim on a picture without bars; a flat picture keeps at least 20% of a side.
    assert border_box(picture) == Box(0, 0, 120, 200)
    flat = np.full((100, 100, 3), 77, np.uint8)
    box = border_box(flat)
    assert box.height >= 20 and box.width >= 20


def test_content_box_finds_a_picture_in_a_flat_interface() -> None:
    canvas = np.full((600, 400, 3), 245, np.uint8)
    canvas[:40] = (30, 90, 200)  # a header bar
    canvas[120:360, 40:360] = _photo(2, (320, 240))
    box = content_box(canvas)
    assert box is not None
    assert abs(box.top - 120) <= 8 and abs(box.bottom - 360) <= 8
    assert abs(box.left - 40) <= 8 and abs(box.right - 360) <= 8
    assert content_box(_photo(3)) is None  # the whole image is the picture


def test_batch_pdq_agrees_with_the_reference_on_64x64_views() -> None:
    views = np.stack([np.asarray(photo_like(64, 64, seed=s).convert("L")) for s in range(4)])
    hashes, qualities = pdq_views(views)
    for view, packed, quality in zip(views, hashes, qualities, strict=True):
        reference = hash_rgb(np.repeat(view[:, :, None], 3, axis=2))
        distance = (int(reference.hex, 16) ^ int(packed.tobytes().hex(), 16)).bit_count()
        assert distance <= 4  # float rounding at the median only
        assert quality == reference.quality


@pytest.mark.parametrize(
    "edit",
    [
        lambda p: _pad(p, 90, 0, (0, 0, 0)),  # letterbox
        lambda p: _pad(p, 60, 60, (255, 255, 255)),  # white padding
        lambda p: np.ascontiguousarray(p[:, ::-1]),  # mirror
        lambda p: np.ascontiguousarray(np.rot90(p)),  # rotation by 90
        lambda p: np.ascontiguousarray(p[40:, 50:]),  # crop of ~12% from two edges
    ],
    ids=["letterbox", "padding", "mirror", "rot90", "crop"],
)
def test_edited_copies_match_with_pdq_robust_and_not_with_plain_pdq(edit) -> None:  # type: ignore[no-untyped-def]
    bank = {1: _photo(10), 2: _photo(11), 3: _photo(12)}
    query = edit(bank[2])
    assert _matches(bank, query, "pdq-robust") == {2}
    assert 2 not in _matches({2: bank[2]}, query, "pdq") if _has_pdq_index() else True


def _has_pdq_index() -> bool:
    try:
        PDQ.make_index()
    except ImportError:
        return False
    return True


def test_plain_pdq_misses_the_letterboxed_copy() -> None:
    original = _photo(10)
    letterboxed = _pad(original, 90, 0, (0, 0, 0))
    assert PDQ.compare(PDQ.hash_image(original, HashOptions()),
                       PDQ.hash_image(letterboxed, HashOptions())).matched is False


def test_a_picture_inside_a_collage_is_found_by_its_tile() -> None:
    bank = {k: _photo(20 + k) for k in range(5)}
    collage = np.concatenate(
        [np.concatenate([bank[1], bank[2]], axis=1), np.concatenate([bank[3], _photo(99)], axis=1)]
    )
    assert _matches(bank, collage, "pdq-robust") == {1, 2, 3}


def test_distinct_pictures_and_flat_pictures_do_not_match() -> None:
    bank = {k: _photo(40 + k) for k in range(6)}
    bank[6] = np.full((300, 300, 3), 128, np.uint8)
    for key in range(6):
        others = {k: v for k, v in bank.items() if k != key}
        assert _matches(others, bank[key], "pdq-robust") == set()
    grey = np.full((200, 260, 3), 131, np.uint8)
    assert _matches(bank, grey, "pdq-robust") == set()


def test_compact_form_round_trips_and_rejects_bad_input() -> None:
    value = compute(_photo(5))
    text = ROBUST.format(value)
    parsed = ROBUST.parse(text)
    assert parsed == value
    assert (parsed.roles == Role.FULL).sum() == 1
    assert len(value.points) > 20
    assert ROBUST.compare(value, parsed).matched
    with pytest.raises(SignalFormatError):
        ROBUST.parse("not base64 at all!")
    with pytest.raises(SignalFormatError):
        ROBUST.parse(text[:-8])
    with pytest.raises(SignalFormatError):
        ROBUST.parse(12)  # type: ignore[arg-type]


def test_on_for_matching_but_not_printed_by_default() -> None:
    assert ROBUST in matching_signal_types(ContentType.IMAGE)
    assert not ROBUST.default_for


def _screenshot(picture: np.ndarray, top: int, left: int, size: tuple[int, int]) -> np.ndarray:
    """The picture pasted into a light app canvas with lines of text above and below it."""
    canvas = Image.new("RGB", size, (250, 250, 250))
    canvas.paste(Image.fromarray(picture), (left, top))
    draw = ImageDraw.Draw(canvas)
    for y in [*range(10, top - 14, 18), *range(top + picture.shape[0] + 8, size[1] - 14, 18)]:
        draw.text((12, y), "they do not want you to see this " * 2, fill=(30, 30, 30))
    return np.asarray(canvas)


def test_edge_boxes_outline_a_picture_between_lines_of_text() -> None:
    picture = _photo(7, (240, 180))
    grey = np.asarray(Image.fromarray(_screenshot(picture, 90, 50, (340, 420))).convert("L"))
    boxes = edge_boxes(grey)
    assert any(
        max(abs(b.top - 90), abs(b.left - 50), abs(b.bottom - 270), abs(b.right - 290)) <= 2
        for b in boxes
    ), boxes
    # A picture alone has no pasted outline covering 12% of it.
    assert all(b.height * b.width < 0.9 * 180 * 240 for b in edge_boxes(picture[:, :, 0]))


def test_grid_cells_split_a_collage_along_its_gutters() -> None:
    tiles = [_photo(30 + k, (120, 90))[:, :, 1] for k in range(4)]
    canvas = np.full((2 * 90 + 18, 2 * 120 + 18), 255, np.uint8)
    for slot, tile in enumerate(tiles):
        top, left = 6 + (slot // 2) * 96, 6 + (slot % 2) * 126
        canvas[top : top + 90, left : left + 120] = tile
    cells = sorted(grid_cells(canvas), key=lambda c: (c.top, c.left))
    assert [(c.top, c.left, c.height, c.width) for c in cells] == [
        (6, 6, 90, 120),
        (6, 132, 90, 120),
        (102, 6, 90, 120),
        (102, 132, 90, 120),
    ]
    assert grid_cells(tiles[0]) == []  # no gutter, no cells


def test_a_picture_inside_a_screenshot_is_found_by_its_outline() -> None:
    bank = {k: _photo(50 + k, (240, 180)) for k in range(3)}
    shot = _screenshot(bank[1], 120, 60, (360, 520))  # the picture covers 23% of the canvas
    assert _matches(bank, shot, "pdq-robust") == {1}


def test_a_mirrored_and_cropped_copy_is_verified_by_mirrored_keypoints() -> None:
    bank = {k: compute(_photo(60 + k)) for k in range(3)}
    query = compute(np.ascontiguousarray(_photo(61)[30:, ::-1][:, 45:]))
    found = {}
    for mirrored in (True, False):
        index = RobustPdqIndex(mirrored_keypoints=mirrored)
        for key, value in bank.items():
            index.add(key, value)
        found[mirrored] = {m.key for m in index.query(query)}
    assert found == {True: {1}, False: set()}


def test_format_version_1_without_mirrored_keypoints_still_parses() -> None:
    value = compute(_photo(8))
    header = _HEADER_V1.pack(1, len(value.hashes), len(value.points), *value.size)
    meta = np.stack([value.roles, value.qualities], axis=1).astype(np.uint8)
    points = np.round(value.points * 8).astype(">u2")
    text = ROBUST.format(value)
    old = header + meta.tobytes() + value.hashes.tobytes() + points.tobytes()
    old += value.descriptors.tobytes()
    parsed = ROBUST.parse(base64.b64encode(old).decode())
    assert len(parsed.mirrored_points) == 0 and len(value.mirrored_points) > 20
    assert np.array_equal(parsed.hashes, value.hashes)
    assert ROBUST.compare(parsed, ROBUST.parse(text)).matched


def test_index_snapshot_round_trip_and_damaged_snapshot(tmp_path) -> None:  # type: ignore[no-untyped-def]
    index = RobustPdqIndex()
    for key in (1, 2):
        index.add(key, compute(_photo(key)))
    path = tmp_path / "robust.snap"
    index.save(path)
    restored = RobustPdqIndex.load(path)
    query = compute(np.ascontiguousarray(_photo(2)[:, ::-1]))
    assert [m.key for m in restored.query(query)] == [m.key for m in index.query(query)] == [2]
    path.write_bytes(b"not a snapshot")
    with pytest.raises(CordonError, match="cannot load the pdq-robust index snapshot"):
        RobustPdqIndex.load(path)
