"""Walking PATH arguments: big trees, symlink loops, things that are not files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from cordon.inputs import iter_inputs


def test_directory_with_thousands_of_files(tmp_path: Path) -> None:
    for i in range(3000):
        (tmp_path / f"{i:05d}.txt").write_text(str(i))
    started = time.monotonic()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "cordon",
            "hash",
            "--format",
            "json",
            "--signal",
            "md5",
            str(tmp_path),
        ],
        capture_output=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    assert len(rows) == 3000
    assert [Path(r["path"]).name for r in rows] == sorted(f"{i:05d}.txt" for i in range(3000))
    assert time.monotonic() - started < 60


def test_symlink_loops_are_reported_and_the_walk_goes_on(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "file.txt").write_text("x")
    os.symlink(root, root / "sub" / "back-to-root")  # directory loop
    os.symlink(root / "self", root / "self")  # a link to itself
    items = list(iter_inputs([str(root)]))
    files = [i for i in items if i.path is not None]
    errors = {Path(i.display).name: i.error for i in items if i.error}
    assert [Path(i.display).name for i in files] == ["file.txt"]
    assert "loop" in errors["back-to-root"]
    assert "loop" in errors["self"]


def test_special_files_and_missing_paths(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    items = list(iter_inputs([str(fifo), str(tmp_path / "nope")]))
    assert items[0].error == "not a regular file"
    assert items[1].error == "no such file or directory"
    # Inside a tree, FIFOs are skipped rather than blocking the walk on open().
    assert list(iter_inputs([str(tmp_path)])) == []


def test_dangling_symlink(tmp_path: Path) -> None:
    os.symlink(tmp_path / "gone", tmp_path / "link")
    [item] = list(iter_inputs([str(tmp_path)]))
    assert item.error == "no such file or directory"
