"""A live stream for the story: an MPEG-TS file sent over HTTP on 127.0.0.1 at the pace of
its own clock, as a broadcaster's ingest would relay it."""

from __future__ import annotations

import http.server
import threading
import time
from pathlib import Path

_CHUNK = 16 * 1024


def _duration(path: Path) -> float:
    import av

    with av.open(str(path)) as container:
        return max(1.0, float(container.duration or 0) / 1_000_000)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    path: Path
    pace: float  # bytes per second
    closing: threading.Event


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        if self.path != "/live.ts":
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "video/mp2t")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        started = time.monotonic()
        sent = 0
        try:
            with open(self.server.path, "rb") as feed:
                while chunk := feed.read(_CHUNK):
                    ahead = sent / self.server.pace - (time.monotonic() - started)
                    if ahead > 0 and self.server.closing.wait(ahead):
                        return
                    self.wfile.write(chunk)
                    sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the watcher hung up: nothing to clean

    def log_message(self, format: str, *args: object) -> None:
        pass  # the story prints what matters


class LiveFeed:
    def __init__(self, path: Path) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.path = path
        self._server.pace = max(1.0, path.stat().st_size / _duration(path))
        self._server.closing = threading.Event()
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/live.ts"

    def close(self) -> None:
        self._server.closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def __enter__(self) -> LiveFeed:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
