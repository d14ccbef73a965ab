"""An SRT publisher on loopback for tests and benchmarks: `srt-live-transmit` (Debian's
srt-tools) listens on 127.0.0.1:PORT and sends the MPEG-TS bytes it reads on standard input,
which come in real time from a `LiveHttpServer` raw channel (bytes sent as their timestamps
come due), so the stream is live."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import threading
import urllib.request
from pathlib import Path

from benchmarks._streams import LiveHttpServer, free_port, stop_process


def srt_tools_missing() -> str | None:
    if shutil.which("srt-live-transmit") is None:
        return "no srt-live-transmit (apt-get install srt-tools)"
    return None


class SrtPublisher:
    """Publishes `path` (MPEG-TS) live at `url` as an SRT listener, from the moment it starts."""

    def __init__(self, path: Path) -> None:
        self.port = free_port()
        self._http = LiveHttpServer()
        self._source = self._http.add("srt.ts", path, raw=True, once=True)
        self._process = subprocess.Popen(
            ["srt-live-transmit", "-q", "-chunk:1316", "file://con",
             f"srt://127.0.0.1:{self.port}?mode=listener"],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._thread = threading.Thread(target=self._feed, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"srt://127.0.0.1:{self.port}"

    def _feed(self) -> None:
        assert self._process.stdin is not None
        with contextlib.suppress(OSError), urllib.request.urlopen(self._source) as response:
            while chunk := response.read(1316 * 8):
                self._process.stdin.write(chunk)
                self._process.stdin.flush()
        with contextlib.suppress(OSError):
            self._process.stdin.close()

    def close(self) -> None:
        stop_process(self._process)
        self._http.close()
        self._thread.join(5)

    def __enter__(self) -> SrtPublisher:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
