"""The output file of a scan: one JSON line per file, appended as results arrive.

The file doubles as the resume record: paths already written are not scanned again. A scan
killed mid-write can leave a torn last line; it is cut off before appending, so the file
stays one valid JSON object per line.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from cordon.errors import CordonError


class Journal:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.done: set[str] = set()
        self._handle: IO[bytes] | None = None

    def open(self) -> Journal:
        """Read the paths already scanned, drop a torn tail, and open for appending."""
        try:
            handle = open(self.path, "a+b")  # noqa: SIM115 - kept open for the whole scan
        except OSError as exc:
            raise CordonError(
                f"cannot write {self.path}: {(exc.strerror or str(exc)).lower()}"
            ) from None
        handle.seek(0)
        good_end = 0
        for number, line in enumerate(handle, 1):
            if not line.endswith(b"\n"):
                break  # torn by an interruption: rewritten below
            try:
                record = json.loads(line)
            except ValueError:
                handle.close()
                raise CordonError(
                    f"{self.path} line {number} is not a scan result; "
                    "give another --output file"
                ) from None
            if not isinstance(record, dict) or not isinstance(record.get("path"), str):
                handle.close()
                raise CordonError(
                    f"{self.path} line {number} is not a scan result; "
                    "give another --output file"
                )
            self.done.add(record["path"])
            good_end += len(line)
        handle.truncate(good_end)
        handle.seek(good_end)
        self._handle = handle
        return self

    def write(self, record: dict[str, Any]) -> None:
        assert self._handle is not None
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"
        # One write per line and a flush: an interruption loses at most the line being written.
        self._handle.write(line.encode("utf-8"))
        self._handle.flush()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.flush()
            os.fsync(self._handle.fileno())
            self._handle.close()
            self._handle = None

    def __enter__(self) -> Journal:
        return self.open()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
