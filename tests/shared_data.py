"""Access to the read-only reference material in ../shared (never copied into the repo)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED = Path(
    os.environ.get("CORDON_SHARED", Path(__file__).resolve().parents[1].parent / "shared")
)
INTEROP = SHARED / "interop"
CORPUS = SHARED / "corpus"


def require(path: Path) -> Path:
    """Return `path`, or skip the test with a clear reason when the shared material is absent."""
    if not path.exists():
        pytest.skip(f"reference material not found at {path} (../shared is absent)")
    return path
