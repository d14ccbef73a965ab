"""Access to the read-only reference material in ../shared (never copied into the repo)."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

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


def corpus_image(name: str) -> Image.Image:
    """A picture of the shared corpus, in RGB."""
    with Image.open(require(CORPUS / "images" / name)) as image:
        return image.convert("RGB")


def as_posted(image: Image.Image) -> np.ndarray:
    """The pixels of `image` as a posted copy would have them: saved as JPEG at quality 95."""
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=95)
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return np.asarray(decoded.convert("RGB"))
