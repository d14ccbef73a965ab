"""The platform's side of the node's webhooks, for the demo: an HTTP endpoint on 127.0.0.1
that checks each delivery's signature and writes one line per delivery to a log, as a
platform's upload pipeline would before acting on it."""

from __future__ import annotations

import http.server
import json
import threading
from datetime import UTC, datetime
from pathlib import Path

from cordon.node.signing import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    verify,
)

PATH = "/cordon-demo-webhook"
# Deliveries are small JSON documents; anything larger is not one.
MAX_BODY = 1 << 20


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    secret: str
    log: Path
    lock: threading.Lock


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if self.path != PATH or not 0 < length <= MAX_BODY:
            self.send_error(404 if self.path != PATH else 413)
            return
        body = self.rfile.read(length)
        valid = verify(self.server.secret, self.headers.get(TIMESTAMP_HEADER, ""), body,
                       self.headers.get(SIGNATURE_HEADER, ""))
        line = {"received_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "event": self.headers.get(EVENT_HEADER),
                "delivery": self.headers.get(DELIVERY_HEADER),
                "signature": "valid" if valid else "invalid", "bytes": length}
        with self.server.lock, open(self.server.log, "a", encoding="utf-8") as out:
            out.write(json.dumps(line) + "\n")
        # A platform acts only on deliveries it can verify; the node retries the others.
        self.send_response(204 if valid else 401)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass  # the log file says what arrived


class WebhookReceiver:
    def __init__(self, secret: str, log: Path) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.secret = secret
        self._server.log = log
        self._server.lock = threading.Lock()
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{PATH}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
