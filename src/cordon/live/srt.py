"""SRT through a relay: the FFmpeg bundled with PyAV is built without libsrt, so an `srt://`
stream is received by `srt-live-transmit` (Haivision's libsrt tools, Debian's `srt-tools`)
in caller mode, which writes the stream's payload (MPEG-TS) to a pipe that FFmpeg demuxes.

The pipe is read through `RelayPipe`, which gives FFmpeg what plain sockets get from
`rw_timeout`: a read that waits longer than the read timeout fails (the monitor reconnects),
and stopping the stream ends the relay at once instead of leaving a read blocked.
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import subprocess
import threading
import time
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from cordon.errors import MediaError

RELAY = "srt-live-transmit"
# MPEG-TS packets are 188 bytes; seven fill an SRT live payload (1316 bytes).
_CHUNK = 1316


def relay_missing() -> str | None:
    """Why SRT streams cannot be received here, or None."""
    if shutil.which(RELAY) is None:
        return (f"SRT streams need {RELAY} (Debian package srt-tools): the bundled FFmpeg has "
                "no srt protocol")
    return None


def _caller_url(url: str) -> str:
    """The URL as a caller: a node connects to streams, it never listens for them."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k.lower() != "mode"]
    query.append(("mode", "caller"))
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))


class RelayPipe:
    """The relay's output as a file FFmpeg reads; see the module notes."""

    def __init__(self, url: str, open_timeout: float, read_timeout: float,
                 stop: threading.Event) -> None:
        missing = relay_missing()
        if missing:
            raise MediaError(missing)
        self.read_timeout = read_timeout
        self._stop = stop
        self._first = True
        self._last = 0.0
        self._open_deadline = time.monotonic() + open_timeout
        self._process = subprocess.Popen(
            # -a:no: one connection per relay (the monitor does the reconnecting). The open
            # timeout is kept by `read`: the tool's own exit timer (-t) also fires after a
            # connection is made.
            [RELAY, "-q", "-a:no", f"-chunk:{_CHUNK}", _caller_url(url), "file://con"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert self._process.stdout is not None
        self._fd = self._process.stdout.fileno()

    def read(self, size: int = -1) -> bytes:
        want = _CHUNK * 64 if size is None or size < 0 else size
        while True:
            if self._stop.is_set():
                return b""
            deadline = self._open_deadline if self._first else self._last + self.read_timeout
            wait = min(0.2, deadline - time.monotonic())
            if wait <= 0:
                if self._first:
                    raise MediaError("cannot open the SRT stream: nothing received within "
                                     "the open timeout")
                raise MediaError(f"the SRT stream sent nothing for {self.read_timeout:g} s")
            ready, _, _ = select.select([self._fd], [], [], wait)
            if not ready:
                continue
            data = os.read(self._fd, want)
            if not data:
                self._raise_if_failed()
                return b""
            self._first = False
            self._last = time.monotonic()
            return data

    def _raise_if_failed(self) -> None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._process.wait(1)
        if self._first:
            error = b""
            if self._process.stderr is not None:
                with contextlib.suppress(OSError):
                    error = self._process.stderr.read(2000)
            detail = error.decode(errors="replace").strip().splitlines()
            reason = detail[-1] if detail else f"{RELAY} exited with {self._process.returncode}"
            raise MediaError(f"cannot open the SRT stream: {reason}")

    def close(self) -> None:
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(2)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        for stream in (self._process.stdout, self._process.stderr):
            if stream is not None:
                stream.close()
