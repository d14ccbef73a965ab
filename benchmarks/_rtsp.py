"""An RTSP server on loopback for tests and benchmarks: GStreamer's RTSP server (Debian's
gir1.2-gst-rtsp-server-1.0, with gstreamer1.0-plugins-good and -bad), run by the system Python
(python3-gi) in a subprocess, plays an MPEG-TS file of H.264 in real time to every client of
rtsp://127.0.0.1:PORT/live, as one shared live broadcast: a client that joins late sees it
from where it is."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

from benchmarks._streams import free_port, stop_process

SYSTEM_PYTHON = "/usr/bin/python3"

# Run by the system Python, which has the GObject bindings: the project's virtualenv does not.
_SERVER = r"""
import sys
import gi
gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer

Gst.init(None)
path, port = sys.argv[1], sys.argv[2]
server = GstRtspServer.RTSPServer()
server.set_address("127.0.0.1")
server.set_service(port)
factory = GstRtspServer.RTSPMediaFactory()
location = path.replace("\\", "\\\\").replace('"', '\\"')
factory.set_launch(
    f'( filesrc location="{location}" ! tsdemux ! h264parse '
    "! rtph264pay name=pay0 pt=96 config-interval=1 )")
factory.set_shared(True)
server.get_mount_points().add_factory("/live", factory)
if server.attach(None) == 0:
    sys.exit("cannot listen on port " + port)
print("ready", flush=True)
GLib.MainLoop().run()
"""

_CHECK = (
    "import gi; gi.require_version('Gst', '1.0'); gi.require_version('GstRtspServer', '1.0');"
    "from gi.repository import Gst, GstRtspServer; Gst.init(None);"
    "missing = [e for e in ('filesrc', 'tsdemux', 'h264parse', 'rtph264pay')"
    " if Gst.ElementFactory.find(e) is None];"
    "print(' '.join(missing))"
)


def rtsp_server_missing() -> str | None:
    """Why `RtspServer` cannot run here, or None."""
    if shutil.which(SYSTEM_PYTHON) is None:
        return f"no {SYSTEM_PYTHON} with python3-gi for GStreamer's RTSP server"
    try:
        done = subprocess.run([SYSTEM_PYTHON, "-c", _CHECK], capture_output=True, text=True,
                              timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"GStreamer's RTSP server cannot be checked: {exc}"
    if done.returncode != 0:
        return ("no GStreamer RTSP server (apt-get install gir1.2-gst-rtsp-server-1.0 "
                "gstreamer1.0-plugins-good gstreamer1.0-plugins-bad python3-gi)")
    if done.stdout.strip():
        return f"GStreamer elements missing: {done.stdout.strip()}"
    return None


class RtspServer:
    """Plays `path` (MPEG-TS, H.264) live at `url` from the moment it starts."""

    def __init__(self, path: Path) -> None:
        self.port = free_port()
        self._process = subprocess.Popen(
            [SYSTEM_PYTHON, "-c", _SERVER, str(path), str(self.port)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self._process.stdout is not None
        deadline = time.monotonic() + 20
        line = self._process.stdout.readline()
        if line.strip() != "ready" or time.monotonic() > deadline:
            error = self._process.stderr.read() if self._process.stderr else ""
            self.close()
            raise RuntimeError(f"the RTSP server did not start: {line.strip()} {error.strip()}")

    @property
    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}/live"

    def close(self) -> None:
        stop_process(self._process)
        for stream in (self._process.stdout, self._process.stderr):
            if stream is not None:
                stream.close()

    def __enter__(self) -> RtspServer:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
