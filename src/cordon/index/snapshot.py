"""Writing index snapshots so that a crash never leaves a half-written file behind."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from cordon.errors import CordonError


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
