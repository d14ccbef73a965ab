"""The PDQ index must return exactly what a brute-force scan returns, through every write path."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cordon.errors import CordonError
from cordon.index import pdq as pdq_index
from cordon.index.pdq import DIHEDRAL_TRANSFORMS, PdqIndex, hashes_to_words, words_to_hex
from cordon.media.image import decode_rgb
from cordon.media.limits import MediaLimits
from cordon.signals import get_signal_type
from cordon.signals.pdq import PdqHash, hash_rgb, hash_rgb_dihedral
from tests.shared_data import INTEROP, require

REG = INTEROP / "pdq" / "reg-test-input"


def brute(entries: dict[int, str], query: str, threshold: int) -> list[tuple[int, int]]:
    """The reference: every entry within the threshold, closest first, ties by key."""
    q = int(query, 16)
    hits = [(k, (int(v, 16) ^ q).bit_count()) for k, v in entries.items()]
    return sorted(((k, d) for k, d in hits if d <= threshold), key=lambda kd: (kd[1], kd[0]))


def found(index: PdqIndex, query: str, threshold: int | None = None) -> list[tuple[int, int]]:
    return [(m.key, int(m.distance)) for m in index.query(PdqHash(query), threshold)]


def flip(hex_value: str, bits: list[int]) -> str:
    value = int(hex_value, 16)
    for bit in bits:
        value ^= 1 << bit
    return f"{value:064x}"


@pytest.fixture
def small_levels(monkeypatch: pytest.MonkeyPatch) -> None:
    """Shrink the LSM levels so that a few dozen writes exercise every flush and rebuild."""
    monkeypatch.setattr(pdq_index, "_BUFFER_CAP", 8)
    monkeypatch.setattr(pdq_index, "_DELTA_MIN", 32)
    monkeypatch.setattr(pdq_index, "_GROUP_CANDIDATES", 4)  # batches split across threads


# --- the reference needles and haystack ------------------------------------------------------
@pytest.mark.parametrize("threshold", [0, 10, 31, 40, 63])
def test_needles_in_haystack_match_brute_force(threshold: int) -> None:
    haystack = require(REG / "haystack.txt").read_text().split()
    needles = require(REG / "needles.txt").read_text().split()
    entries = dict(enumerate(haystack))
    index = PdqIndex()
    index.add_many((k, PdqHash(v)) for k, v in entries.items())
    results = index.query_many([PdqHash(n) for n in needles], threshold)
    total = 0
    for needle, matches in zip(needles, results, strict=True):
        expected = brute(entries, needle, threshold)
        assert [(m.key, m.distance) for m in matches] == expected
        total += len(expected)
    if threshold == 31:
        assert total > 0  # the reference data does contain near matches


def test_signal_type_makes_a_pdq_index_at_its_threshold() -> None:
    index = get_signal_type("pdq").make_index()
    assert isinstance(index, PdqIndex)
    assert index.threshold == 31
    assert get_signal_type("pdq").make_index(20).threshold == 20


# --- property tests against brute force ------------------------------------------------------
hex_hashes = st.integers(min_value=0, max_value=(1 << 256) - 1).map(lambda v: f"{v:064x}")


@st.composite
def banks(draw: st.DrawFn) -> tuple[dict[int, str], list[str]]:
    """Random hashes plus clusters of near-duplicates, and queries near and far from them."""
    centres = draw(st.lists(hex_hashes, min_size=1, max_size=6))
    values = []
    for centre in centres:
        values.append(centre)
        for _ in range(draw(st.integers(0, 12))):
            bits = draw(st.lists(st.integers(0, 255), max_size=45, unique=True))
            values.append(flip(centre, bits))
    values += draw(st.lists(hex_hashes, max_size=20))
    keys = draw(st.lists(st.integers(-(2**63), 2**63 - 1), min_size=len(values),
                         max_size=len(values), unique=True))
    queries = [flip(v, draw(st.lists(st.integers(0, 255), max_size=40, unique=True)))
               for v in draw(st.lists(st.sampled_from(values), min_size=1, max_size=6))]
    queries += draw(st.lists(hex_hashes, max_size=3))
    return dict(zip(keys, values, strict=True)), queries


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bank=banks(), threshold=st.sampled_from([0, 5, 15, 16, 31, 32, 47, 64, 100]))
def test_queries_equal_brute_force(bank: tuple[dict[int, str], list[str]], threshold: int) -> None:
    entries, queries = bank
    index = PdqIndex()
    index.add_many((k, PdqHash(v)) for k, v in entries.items())
    for query in queries:
        assert found(index, query, threshold) == brute(entries, query, threshold)
    batched = index.query_many([PdqHash(q) for q in queries], threshold)
    assert [[(m.key, m.distance) for m in ms] for ms in batched] == [
        brute(entries, q, threshold) for q in queries
    ]


operations = st.lists(
    st.tuples(st.sampled_from(["add", "remove", "bulk", "query"]), st.integers(0, 40),
              st.integers(0, 10)),
    max_size=80,
)


FIXTURE_OK = [HealthCheck.function_scoped_fixture]


@settings(max_examples=60, deadline=None, suppress_health_check=FIXTURE_OK)
@given(ops=operations, seed=st.integers(0, 2**32 - 1))
def test_writes_keep_results_equal_to_brute_force(
    small_levels: None, ops: list[tuple[str, int, int]], seed: int
) -> None:
    rng = np.random.default_rng(seed)
    centres = [f"{int(v):016x}" * 4 for v in rng.integers(0, 2**63, 4)]

    def near() -> str:
        centre = centres[int(rng.integers(len(centres)))]
        return flip(centre, rng.choice(256, int(rng.integers(0, 40)), replace=False).tolist())

    index = PdqIndex()
    model: dict[int, str] = {}
    for op, key, count in ops:
        if op == "add":
            model[key] = near()
            index.add(key, PdqHash(model[key]))
        elif op == "remove":
            model.pop(key, None)
            index.remove(key)
        elif op == "bulk":
            batch = [(key + i, near()) for i in range(count * 3)]
            model.update(batch)
            index.add_many((k, PdqHash(v)) for k, v in batch)
        else:
            query = near()
            assert found(index, query) == brute(model, query, 31)
        assert len(index) == len(model)
    queries = [*centres, near(), near()]
    for query in queries:
        assert found(index, query) == brute(model, query, 31)
    batched = index.query_many([PdqHash(q) for q in queries])
    assert [[(m.key, m.distance) for m in ms] for ms in batched] == [
        brute(model, q, 31) for q in queries
    ]
    for key in range(60):
        assert (key in index) == (key in model)


def test_large_bulk_add_then_remove_and_re_add() -> None:
    rng = np.random.default_rng(7)
    words = rng.integers(0, 2**64, size=(20_000, 4), dtype=np.uint64)
    keys = np.arange(20_000, dtype=np.int64) * 2
    index = PdqIndex()
    index.add_arrays(keys, words)
    target = words[123].copy()
    target[0] ^= np.uint64(0xFF)  # 8 bits away from key 246
    [(found_keys, distances)] = index.query_arrays(target[None, :])
    assert found_keys.tolist() == [246] and distances.tolist() == [8]
    index.remove_many(keys[:5000].tolist())
    assert len(index) == 15_000
    assert index.query_arrays(target[None, :])[0][0].tolist() == []
    index.add(246, PdqHash(words_to_hex(words[123:124])[0]))
    assert index.query_arrays(target[None, :])[0][0].tolist() == [246]
    assert len(index) == 15_001


def test_replacing_a_key_moves_it() -> None:
    index = PdqIndex()
    index.add(1, PdqHash("0" * 64))
    index.add(1, PdqHash("f" * 64))
    assert len(index) == 1
    assert found(index, "0" * 64) == []
    assert found(index, "f" * 64) == [(1, 0)]


# --- empty and zero-result queries -----------------------------------------------------------
def test_empty_index(tmp_path: Path) -> None:
    index = PdqIndex()
    assert len(index) == 0
    assert index.query(PdqHash("0" * 64)) == []
    assert index.query_many([]) == []
    index.remove(5)
    index.save(tmp_path / "empty.pdqidx")
    loaded = PdqIndex.load(tmp_path / "empty.pdqidx")
    assert len(loaded) == 0 and loaded.query(PdqHash("0" * 64)) == []


def test_query_with_no_match() -> None:
    index = PdqIndex()
    index.add(1, PdqHash("0" * 64))
    assert index.query(PdqHash("f" * 64)) == []
    assert index.query(PdqHash(flip("0" * 64, list(range(32))))) == []
    assert index.query(PdqHash(flip("0" * 64, list(range(31))))) == [
        pdq_index.IndexMatch(1, 31)
    ]


# --- dihedral queries ------------------------------------------------------------------------
def test_dihedral_query_finds_every_rotation_and_flip() -> None:
    folder = require(REG / "dih")
    limits = MediaLimits()
    original = hash_rgb(decode_rgb(folder / "bridge-1-original.jpg", limits))
    index = PdqIndex()
    index.add(1, original)
    index.add(2, PdqHash("0123456789abcdef" * 4))  # an unrelated hash
    for image in sorted(folder.glob("*.jpg")):
        matches = index.query_dihedral(hash_rgb_dihedral(decode_rgb(image, limits)))
        assert [m.key for m in matches] == [1], image.name
        assert matches[0].detail["transform"] in DIHEDRAL_TRANSFORMS
    # Self-inverse transforms must be reported as themselves.
    for name, transform in [("3-rotate-180", "rot180"), ("5-flipx", "flipx"), ("6-flipy", "flipy")]:
        rgb = decode_rgb(folder / f"bridge-{name}.jpg", limits)
        assert index.query(hash_rgb(rgb)) == []
        assert index.query_dihedral(hash_rgb_dihedral(rgb))[0].detail["transform"] == transform


def test_dihedral_query_needs_eight_hashes() -> None:
    with pytest.raises(CordonError, match="8 hashes"):
        PdqIndex().query_dihedral([PdqHash("0" * 64)])


# --- snapshots -------------------------------------------------------------------------------
@settings(max_examples=15, deadline=None, suppress_health_check=FIXTURE_OK)
@given(bank=banks(), removed=st.integers(0, 10))
def test_save_load_round_trip(
    small_levels: None, tmp_path_factory: pytest.TempPathFactory,
    bank: tuple[dict[int, str], list[str]], removed: int,
) -> None:
    entries, queries = bank
    index = PdqIndex(threshold=40)
    items = list(entries.items())
    index.add_many((k, PdqHash(v)) for k, v in items[: len(items) // 2])
    for k, v in items[len(items) // 2 :]:
        index.add(k, PdqHash(v))  # leaves rows in the buffer and the delta too
    for k, _ in items[:removed]:
        index.remove(k)
        entries.pop(k)
    path = tmp_path_factory.mktemp("snap") / "bank.pdqidx"
    index.save(path)
    loaded = PdqIndex.load(path)
    assert loaded.threshold == 40 and len(loaded) == len(entries)
    for query in queries:
        assert found(loaded, query) == brute(entries, query, 40)


def _saved(tmp_path: Path, rows: int = 5000) -> Path:
    rng = np.random.default_rng(3)
    index = PdqIndex()
    index.add_arrays(np.arange(rows), rng.integers(0, 2**64, size=(rows, 4), dtype=np.uint64))
    index.compact()
    path = tmp_path / "bank.pdqidx"
    index.save(path)
    return path


def test_malformed_snapshots_raise_a_clear_error(tmp_path: Path) -> None:
    path = _saved(tmp_path)
    good = path.read_bytes()
    cases = {
        "garbage": b"not a snapshot at all",
        "empty": b"",
        "truncated": good[: len(good) // 2],
        "cut header": good[:40],
        "other npy": _npy(np.arange(10)),
    }
    for name, data in cases.items():
        bad = tmp_path / f"{name}.pdqidx"
        bad.write_bytes(data)
        with pytest.raises(CordonError, match="snapshot"):
            PdqIndex.load(bad)
    with pytest.raises(CordonError, match="cannot read"):
        PdqIndex.load(tmp_path / "missing.pdqidx")


def test_damaged_tables_are_caught_at_load(tmp_path: Path) -> None:
    path = _saved(tmp_path)
    index = PdqIndex.load(path)
    segment = index._base
    kept = int(segment.members[5])
    segment.members[5] = 200 << 16  # a row number far beyond the 5000 rows
    index.save(path)
    with pytest.raises(CordonError, match="bad row numbers"):
        PdqIndex.load(path)
    segment.members[5] = kept
    segment.offsets[3, 100] = -1
    index.save(path)
    with pytest.raises(CordonError, match="bad table offsets"):
        PdqIndex.load(path)


def test_a_snapshot_of_the_first_version_still_loads(tmp_path: Path) -> None:
    # Version 1 kept each row number as a uint16 low half and a uint8 high half.
    path = _saved(tmp_path)
    index = PdqIndex.load(path)
    with open(path, "rb") as source:
        arrays = [np.load(source) for _ in range(8)]
    meta = json.loads(arrays[0].tobytes().decode())
    members = arrays.pop(4)
    old = tmp_path / "v1.pdqidx"
    with open(old, "wb") as out:
        header = np.frombuffer(json.dumps({**meta, "version": 1}).encode(), dtype=np.uint8)
        for array in [header, *arrays[1:4], (members & 0xFFFF).astype(np.uint16),
                      (members >> 16).astype(np.uint8), *arrays[4:]]:
            np.save(out, array)
    loaded = PdqIndex.load(old)
    assert np.array_equal(loaded._base.members, index._base.members)
    probe = PdqHash(words_to_hex(index._base.words[:1])[0])
    assert loaded.query(probe) == index.query(probe) != []


def _npy(array: np.ndarray) -> bytes:
    import io

    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


# --- bad input -------------------------------------------------------------------------------
def test_bad_input_is_refused_clearly() -> None:
    index = PdqIndex()
    with pytest.raises(CordonError, match="threshold"):
        index.query(PdqHash("0" * 64), 300)
    with pytest.raises(CordonError, match="threshold"):
        PdqIndex(threshold=-1)
    with pytest.raises(CordonError, match="64 hex"):
        index.add(1, PdqHash("abc"))
    with pytest.raises(CordonError, match="hex characters"):
        index.add(1, PdqHash("z" * 64))
    with pytest.raises(CordonError, match="whole number"):
        index.add("1", PdqHash("0" * 64))  # type: ignore[arg-type]
    with pytest.raises(CordonError, match="64 signed bits"):
        index.add(2**70, PdqHash("0" * 64))
    with pytest.raises(CordonError, match="PdqHash"):
        index.add(1, "0" * 64)  # type: ignore[arg-type]
    assert len(index) == 0


def test_hex_round_trip() -> None:
    values = ["0" * 64, "f" * 64, "0123456789abcdef" * 4]
    assert words_to_hex(hashes_to_words(values)) == values
