"""The sample corpus the demo banks: where it is, and its files' fingerprints."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from cordon.errors import CordonError
from cordon.hashing import HashResult, MatchingSelection
from cordon.inputs import InputItem
from cordon.signals import HashOptions

# The repository's checkout sits next to `shared/` (see scripts/run).
_REPOSITORY = Path(__file__).resolve().parents[3]


def default_corpus() -> Path:
    shared = os.environ.get("CORDON_SHARED", "").strip()
    base = Path(shared).expanduser() if shared else _REPOSITORY.parent / "shared"
    return base / "corpus"


def corpus_files(root: Path) -> list[Path]:
    """The regular files under `root`, in a stable order (their relative paths name them)."""
    if not root.is_dir():
        raise CordonError(f"no sample corpus at {root}; pass --corpus DIR (a folder of images "
                          "and videos)")
    files = sorted(p for p in root.rglob("*")
                   if p.is_file() and not p.name.startswith(".") and p.stat().st_size > 0)
    if not files:
        raise CordonError(f"the corpus folder {root} holds no files")
    return files


def hash_corpus(root: Path, files: list[Path], jobs: int) -> Iterator[HashResult]:
    """The matching signals of each file (those a node computes for uploads), with the
    relative path as the result's name."""
    from cordon.cli.hash_cmd import hash_items

    items = [InputItem(path=p, display=p.relative_to(root).as_posix()) for p in files]
    return hash_items(items, MatchingSelection(), HashOptions(), jobs)
