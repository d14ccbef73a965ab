"""The vPDQ value types: serialization, validation, comparison."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cordon.errors import SignalFormatError
from cordon.signals import get_signal_type
from cordon.signals.vpdq import VpdqFrame, VpdqHash

VPDQ = get_signal_type("vpdq")


def random_hexes(n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    raw = rng.integers(0, 256, size=(n, 32), dtype=np.uint8)
    return [row.tobytes().hex() for row in raw]


def flip(hex_value: str, bits: int, seed: int) -> str:
    rng = np.random.default_rng(seed)
    value = int(hex_value, 16)
    for bit in rng.choice(256, bits, replace=False):
        value ^= 1 << int(bit)
    return f"{value:064x}"


def video(hexes: list[str], start: float = 0.0, step: float = 1.0, quality: int = 100) -> VpdqHash:
    return VpdqHash(
        tuple(
            VpdqFrame(i * 30, quality, h, round(start + i * step, 3)) for i, h in enumerate(hexes)
        )
    )


SAMPLE = video(random_hexes(5, 0))


def test_json_object_round_trips() -> None:
    obj = VPDQ.to_json(SAMPLE)
    assert obj["frames"][1] == {
        "frame": 30, "quality": 100, "hash": SAMPLE.frames[1].hex, "seconds": 1.0,
    }
    assert VPDQ.from_json(json.loads(json.dumps(obj))) == SAMPLE


def test_compact_string_is_python_threatexchange_form() -> None:
    text = VPDQ.format(SAMPLE)
    assert "\n" not in text
    items = json.loads(text)
    assert items[2] == f"{SAMPLE.frames[2].hex},100,2.000"
    parsed = VPDQ.parse(text)
    # The interchange form carries no frame numbers: frames are numbered in order.
    assert [f.frame for f in parsed.frames] == [0, 1, 2, 3, 4]
    assert [(f.hex, f.quality, f.seconds) for f in parsed.frames] == [
        (f.hex, f.quality, f.seconds) for f in SAMPLE.frames
    ]


def test_python_threatexchange_reads_and_writes_our_string() -> None:
    pytest.importorskip("vpdq", reason="python-threatexchange's vPDQ needs the vpdq package")
    from threatexchange.extensions.vpdq.vpdq import VPDQSignal
    from threatexchange.extensions.vpdq.vpdq_util import json_to_vpdq, vpdq_to_json

    ours = VPDQ.format(SAMPLE)
    assert VPDQSignal.validate_signal_str(ours) == ours
    features = json_to_vpdq(ours)
    assert [f.pdq_hex for f in features] == [f.hex for f in SAMPLE.frames]
    # Their writer prints 3 significant digits of the time ("1.23e+02" for 123.4 s).
    long = video(random_hexes(3, 1), start=123.4)
    back = VPDQ.parse(vpdq_to_json(json_to_vpdq(VPDQ.format(long))))
    assert [f.hex for f in back.frames] == [f.hex for f in long.frames]
    assert back.frames[0].seconds == pytest.approx(123.0)


def test_reference_text_round_trips() -> None:
    suffix, data = VPDQ.reference_file(SAMPLE)
    assert suffix == ".vpdq.txt"
    lines = data.decode().splitlines()
    assert lines[1] == f"30,100,{SAMPLE.frames[1].hex},1.000"
    assert VPDQ.parse(data.decode()) == SAMPLE


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "at least one frame"),
        ("[]", "at least one frame"),
        ("[1, 2]", "frame 0"),
        ('["abc,100,0.0"]', "frame 0: a pdq hash has 64 hex characters"),
        (json.dumps([f"{'a' * 64},100,0.0", f"{'g' * 64},100,1.0"]), "frame 1: a pdq hash may"),
        (json.dumps([f"{'a' * 64},101,0.0"]), "frame 0: quality"),
        (json.dumps([f"{'a' * 64},100,-1"]), "frame 0: the timestamp"),
        (json.dumps([f"{'a' * 64},100,nan"]), "frame 0: the timestamp"),
        (json.dumps([f"{'a' * 64},100"]), "frame 0: expected"),
        ('["unterminated', "not valid JSON"),
        (f"0,100,{'a' * 64},0.000\n1,100,{'a' * 63},0.033", "frame 1: a pdq hash has 64"),
        (f"0,100,{'a' * 64}", "frame 0: expected"),
        (f"x,100,{'a' * 64},0.0", "frame 0: frame number"),
    ],
)
def test_malformed_strings_name_the_frame(text: str, reason: str) -> None:
    with pytest.raises(SignalFormatError, match=reason):
        VPDQ.parse(text)


@pytest.mark.parametrize(
    "obj",
    [
        {"frames": "nope"},
        {"frames": [{"frame": 0, "quality": 100, "hash": "a" * 64}]},
        {"frames": [{"frame": True, "quality": 100, "hash": "a" * 64, "seconds": 0}]},
        {"frames": [{"frame": 0, "quality": 100, "hash": "a" * 64, "seconds": "later"}]},
        [1, 2, 3],
    ],
)
def test_malformed_json_is_refused(obj: object) -> None:
    with pytest.raises(SignalFormatError):
        VPDQ.from_json(obj)


def test_summary_says_count_sampling_and_weak_share() -> None:
    frames = [*SAMPLE.frames[:3], VpdqFrame(90, 10, SAMPLE.frames[3].hex, 3.0)]
    text = VPDQ.summary(VpdqHash(tuple(frames)))
    assert text.startswith("4 frames (every 1 s, 4.0 s)")
    assert "25% weak" in text


def test_identical_videos_match_fully() -> None:
    result = VPDQ.compare(SAMPLE, SAMPLE)
    assert result.matched and result.distance == 0
    assert result.detail["query_coverage"] == result.detail["reference_coverage"] == 1
    assert result.detail["best_frame_distance"] == 0
    assert result.detail["segments"] == [
        {"query_start": 0.0, "query_end": 5.0, "ref_start": 0.0, "ref_end": 5.0}
    ]


def test_a_clip_matches_on_query_coverage_and_is_aligned() -> None:
    full = random_hexes(300, 2)
    reference = video(full)
    clip = video([flip(h, 12, i) for i, h in enumerate(full[180:190])])
    result = VPDQ.compare(clip, reference)
    assert result.matched
    assert result.detail["query_coverage"] == 1.0
    assert result.detail["reference_coverage"] == pytest.approx(10 / 300, abs=1e-4)
    assert result.detail["best_frame_distance"] == 12
    (segment,) = result.detail["segments"]
    assert segment["query_start"] == 0 and segment["query_end"] == 10
    assert segment["ref_start"] == 180 and segment["ref_end"] == 190
    # The other way round the banked clip is covered, so a long upload containing it matches.
    assert VPDQ.compare(reference, clip).matched


def test_frames_past_the_distance_threshold_do_not_match() -> None:
    base = random_hexes(20, 3)
    near = video([flip(h, 31, i) for i, h in enumerate(base)])
    far = video([flip(h, 32, i) for i, h in enumerate(base)])
    assert VPDQ.compare(near, video(base)).matched
    far_result = VPDQ.compare(far, video(base))
    assert not far_result.matched and far_result.distance == 1.0


def test_coverage_threshold_is_80_percent_of_either_side() -> None:
    base = random_hexes(10, 4)
    other = random_hexes(10, 5)
    eight = video(base[:8] + other[:2])
    seven = video(base[:7] + other[:3])
    assert VPDQ.compare(eight, video(base)).matched
    assert not VPDQ.compare(seven, video(base)).matched
    assert VPDQ.compare(seven, video(base), threshold=0.3).matched


def test_weak_frames_are_ignored_and_duplicates_count_once() -> None:
    base = random_hexes(4, 6)
    weak = video(base, quality=49)
    assert VPDQ.weak(weak)
    assert not VPDQ.compare(weak, weak).matched
    # Three copies of one frame plus one other: coverage is over the 2 distinct hashes.
    repeated = video([base[0], base[0], base[0], base[1]])
    result = VPDQ.compare(repeated, video([base[0], *random_hexes(1, 7)]))
    assert result.detail["query_coverage"] == 0.5


def test_coverage_agrees_with_python_threatexchange() -> None:
    pytest.importorskip("vpdq", reason="python-threatexchange's vPDQ needs the vpdq package")
    from threatexchange.extensions.vpdq.vpdq_brute_matcher import match_VPDQ_hash_brute
    from threatexchange.extensions.vpdq.vpdq_util import json_to_vpdq

    base = random_hexes(40, 8)
    query_hexes = [flip(h, 20 + i % 16, i) for i, h in enumerate(base[5:25])]
    query_hexes += [*random_hexes(10, 9), query_hexes[0]]
    query = video(query_hexes)
    reference = VpdqHash(
        tuple(VpdqFrame(i, 30 if i % 7 == 0 else 90, h, float(i)) for i, h in enumerate(base))
    )
    ours = VPDQ.compare(query, reference).detail
    theirs = match_VPDQ_hash_brute(
        json_to_vpdq(VPDQ.format(query)), json_to_vpdq(VPDQ.format(reference)), 50, 31
    )
    assert ours["query_coverage"] == pytest.approx(theirs.query_match_percent / 100, abs=1e-4)
    assert ours["reference_coverage"] == pytest.approx(
        theirs.compared_match_percent / 100, abs=1e-4
    )
