"""Several server processes on one port, each with a listening socket of its own.

uvicorn's `--workers` opens one listening socket and shares it: every process waits on it
and the first to wake takes the connection. Under load a busy process wakes late and an idle
one takes more: with 64 keep-alive connections a node's two processes were seen holding 40
and 24, or one doing nearly all the work, and the busy one's queue set the latency of the
whole node (paced 2,000 requests a second: p99 12-15 ms when even, 37-84 ms when not).

Here each process binds its own socket with `SO_REUSEPORT`, and the kernel spreads new
connections over the listening sockets by a hash of their addresses. A process starts to
listen only once its application has started (a node has loaded its index), so a process
that is starting or restarting is sent nothing. The parent checks that the port is free,
starts the processes, starts a process again when one dies (unless it failed to start:
then the service stops, with the process's own error above), and passes SIGINT and SIGTERM
on for a graceful stop.

Without `SO_REUSEPORT` (not Linux), uvicorn's own supervisor serves on one shared socket.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from typing import Any

from cordon.errors import CordonError

log = logging.getLogger("uvicorn.error")

# uvicorn exits with this code when the application's startup fails.
STARTUP_FAILURE = 3
_STOP_SECONDS = 30.0
# A process that dies is started again, but not more often than this.
_RESTART_PAUSE = 1.0


def balanced_by_kernel() -> bool:
    """Whether the kernel spreads connections over sockets bound with SO_REUSEPORT."""
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise CordonError(f"cannot listen on {host}:{port} "
                          f"({(exc.strerror or str(exc)).lower()})") from None
    sock.set_inheritable(True)
    return sock


def _serve_one(app: str, host: str, port: int, options: dict[str, Any]) -> None:
    """One process: its own socket, then the application (which listens once started)."""
    import uvicorn

    # Bound now, listening only after the application's startup (see uvicorn's Server).
    try:
        sock = _bind(host, port)
    except CordonError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(STARTUP_FAILURE)
    config = uvicorn.Config(app, factory=True, host=host, port=port, **options)
    server = uvicorn.Server(config)
    server.run(sockets=[sock])
    if not server.started:
        sys.exit(STARTUP_FAILURE)


class ServerProcesses:
    """`workers` processes serving the application factory `app` ("module:function")."""

    def __init__(self, app: str, host: str, port: int, workers: int,
                 **options: Any) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.workers = workers
        self.options = options
        self._context = multiprocessing.get_context("spawn")
        self._processes: list[Any] = []
        self._stopping = threading.Event()
        self._failed = False

    def _start(self) -> Any:
        process = self._context.Process(
            target=_serve_one, args=(self.app, self.host, self.port, self.options),
            name="cordon-server")
        process.start()
        log.info("Starting server process [%d]", process.pid)
        return process

    def run(self) -> int:
        """Serve until SIGINT or SIGTERM; returns the exit status."""
        import uvicorn

        uvicorn.Config(self.app, factory=True, host=self.host, port=self.port,
                       **self.options).configure_logging()
        # Held while the processes run: the port is known to be free before they start,
        # and another service cannot take it between their restarts.
        guard = _bind(self.host, self.port)
        log.info("Started parent process [%d]", os.getpid())
        previous = {sig: signal.signal(sig, self._on_signal)
                    for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            self._processes = [self._start() for _ in range(self.workers)]
            while not self._stopping.wait(0.5):
                self._replace_dead()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self._stop()
            guard.close()
        log.info("Stopping parent process [%d]", os.getpid())
        return 1 if self._failed else 0

    def _on_signal(self, _signum: int, _frame: object) -> None:
        self._stopping.set()

    def _replace_dead(self) -> None:
        for slot, process in enumerate(self._processes):
            if process.is_alive():
                continue
            process.join()
            if process.exitcode == STARTUP_FAILURE:
                log.error("server process [%d] failed to start: stopping", process.pid)
                self._failed = True
                self._stopping.set()
                return
            log.warning("server process [%d] died (exit code %s): starting another",
                        process.pid, process.exitcode)
            time.sleep(_RESTART_PAUSE)
            self._processes[slot] = self._start()

    def _stop(self) -> None:
        for process in self._processes:
            if process.is_alive() and process.pid is not None:
                os.kill(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + _STOP_SECONDS
        for process in self._processes:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                log.warning("server process [%d] did not stop in time: killed", process.pid)
                process.kill()
                process.join()


def serve_processes(app: str, host: str, port: int, workers: int, **options: Any) -> None:
    """Serve the application factory `app` from `workers` processes until stopped; exits
    non-zero when a process failed to start."""
    if not balanced_by_kernel():
        import uvicorn

        uvicorn.run(app, factory=True, host=host, port=port, workers=workers, **options)
        return
    status = ServerProcesses(app, host, port, workers, **options).run()
    if status:
        raise SystemExit(status)
