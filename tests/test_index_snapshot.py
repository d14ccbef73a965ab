"""Snapshots are replaced atomically: a failed write keeps the previous one."""

from __future__ import annotations

from pathlib import Path

import pytest

from cordon.errors import CordonError
from cordon.index.snapshot import snapshot_writer
from cordon.signals import all_signal_types, get_signal_type

PDQ = get_signal_type("pdq")


def test_a_failed_write_keeps_the_previous_snapshot(tmp_path: Path) -> None:
    path = tmp_path / "index.snap"
    index = PDQ.make_index()
    index.add(1, PDQ.parse("f" * 64))
    index.save(path)
    before = path.read_bytes()
    with pytest.raises(RuntimeError), snapshot_writer(path, "test") as handle:
        handle.write(b"half a snapshot")
        raise RuntimeError("the process dies here")
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index.snap"]
    assert len(type(index).load(path)) == 1


def test_an_unwritable_place_is_one_clear_error(tmp_path: Path) -> None:
    index = PDQ.make_index()
    with pytest.raises(CordonError, match="cannot write the pdq index snapshot"):
        index.save(tmp_path / "missing-dir" / "index.snap")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("name", [s.name for s in all_signal_types()])
def test_a_truncated_snapshot_of_any_index_is_one_clear_error(tmp_path: Path, name: str) -> None:
    index = get_signal_type(name).make_index()
    path = tmp_path / f"{name}.snap"
    index.save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CordonError):
        type(index).load(path)
