"""The exact-digest index: identical digests match, nothing else does."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cordon.errors import CordonError
from cordon.index.base import IndexMatch
from cordon.index.exact import ExactIndex
from cordon.signals import get_signal_type


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def test_signal_types_make_an_exact_index() -> None:
    for name in ("md5", "sha256"):
        assert isinstance(get_signal_type(name).make_index(), ExactIndex)


def test_add_query_remove() -> None:
    index = ExactIndex()
    index.add(1, md5(b"a"))
    index.add(2, md5(b"a"))
    index.add(3, md5(b"b"))
    assert index.query(md5(b"a")) == [IndexMatch(1, 0), IndexMatch(2, 0)]
    assert index.query(md5(b"c")) == []
    index.remove(1)
    index.remove(99)  # unknown keys are ignored
    assert index.query(md5(b"a")) == [IndexMatch(2, 0)]
    index.add(2, md5(b"b"))  # replacing a key moves it
    assert index.query(md5(b"a")) == []
    assert index.query(md5(b"b")) == [IndexMatch(2, 0), IndexMatch(3, 0)]
    assert len(index) == 2 and 2 in index and 1 not in index


@settings(max_examples=50, deadline=None)
@given(ops=st.lists(st.tuples(st.booleans(), st.integers(0, 20), st.integers(0, 5)), max_size=60))
def test_matches_a_plain_model(ops: list[tuple[bool, int, int]]) -> None:
    index = ExactIndex()
    model: dict[int, str] = {}
    for add, key, content in ops:
        if add:
            model[key] = md5(bytes([content]))
            index.add(key, model[key])
        else:
            model.pop(key, None)
            index.remove(key)
    assert len(index) == len(model)
    for content in range(6):
        digest = md5(bytes([content]))
        expected = sorted(k for k, v in model.items() if v == digest)
        assert [m.key for m in index.query(digest)] == expected


def test_save_load_round_trip(tmp_path: Path) -> None:
    index = ExactIndex()
    for key in range(50):
        index.add(key, md5(bytes([key % 7])))
    index.remove(3)
    path = tmp_path / "md5.idx"
    index.save(path)
    loaded = ExactIndex.load(path)
    assert len(loaded) == 49
    for content in range(7):
        assert loaded.query(md5(bytes([content]))) == index.query(md5(bytes([content])))
    empty = tmp_path / "empty.idx"
    ExactIndex().save(empty)
    assert len(ExactIndex.load(empty)) == 0


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xff\xfe garbage",
        b"[1, 2]",
        b'{"format": "something else"}',
        b'{"format": "cordon-exact-index", "version": 9, "entries": []}',
        b'{"format": "cordon-exact-index", "version": 1}',
        b'{"format": "cordon-exact-index", "version": 1, "entries": [[1]]}',
        b'{"format": "cordon-exact-index", "version": 1, "entries": [["x", "ab"]]}',
        b'{"format": "cordon-exact-index", "version": 1, "entries": [[1, 5]]}',
    ],
)
def test_malformed_snapshots_raise_a_clear_error(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "bad.idx"
    path.write_bytes(data)
    with pytest.raises(CordonError, match="snapshot"):
        ExactIndex.load(path)


def test_missing_snapshot(tmp_path: Path) -> None:
    with pytest.raises(CordonError, match="cannot read"):
        ExactIndex.load(tmp_path / "missing.idx")


def test_bad_keys_and_values() -> None:
    index = ExactIndex()
    with pytest.raises(CordonError, match="whole number"):
        index.add("1", md5(b"a"))  # type: ignore[arg-type]
    with pytest.raises(CordonError, match="64 signed bits"):
        index.add(2**64, md5(b"a"))
    with pytest.raises(CordonError, match="digest"):
        index.add(1, 5)  # type: ignore[arg-type]
    assert len(index) == 0
