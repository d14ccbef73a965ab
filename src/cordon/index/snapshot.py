"""Writing index snapshots so that a crash never leaves a half-written file behind."""

from __future__ import annotations

import contextlib
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np

from cordon.errors import CordonError

if TYPE_CHECKING:
    from cordon.signals.base import SignalType


@contextlib.contextmanager
def snapshot_writer(path: Path, what: str) -> Iterator[BinaryIO]:
    """A binary file that replaces `path` only once completely written; until then the
    previous snapshot (if any) stays intact. `what` names the snapshot in errors."""
    path = Path(path)
    temporary = path.with_name(path.name + ".tmp")
    try:
        with open(temporary, "wb") as handle:
            yield handle
        os.replace(temporary, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            temporary.unlink()
        if isinstance(exc, OSError):
            reason = (exc.strerror or str(exc)).lower()
            raise CordonError(f"cannot write the {what} snapshot {path}: {reason}") from None
        raise


def save_values(
    path: Path, what: str, signal: SignalType[Any], values: dict[int, Any], threshold: float
) -> None:
    """Snapshot an index that keeps whole values: keys, compact strings, threshold."""
    keys = np.array(list(values), dtype=np.int64)
    texts = np.array([signal.format(v) for v in values.values()], dtype=str)
    with snapshot_writer(path, what) as handle:
        np.savez(handle, keys=keys, values=texts, threshold=threshold)


def load_values(
    path: Path, what: str, signal: SignalType[Any]
) -> tuple[float, list[tuple[int, Any]]]:
    """(threshold, [(key, value)]) from a `save_values` snapshot; values are re-validated."""
    try:
        with np.load(Path(path), allow_pickle=False) as data:
            threshold = float(data["threshold"])
            items = [
                (int(key), signal.parse(str(text)))
                for key, text in zip(data["keys"], data["values"], strict=True)
            ]
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        # A truncated .npz is a damaged zip file: one sentence, not a traceback.
        raise CordonError(f"cannot load the {what} snapshot: {exc}") from None
    return threshold, items
