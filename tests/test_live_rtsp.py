"""The live monitor on RTSP with a real server on loopback: GStreamer's RTSP server plays a
re-stream (unrelated footage, the banked clip disguised, unrelated footage) in real time over
RTP, and the monitor must alert once, on the banked clip, and end cleanly when the broadcast
ends. Debian's GStreamer packages are installed by scripts/ensure-test-tools."""

from __future__ import annotations

import pytest

from benchmarks._rtsp import RtspServer, rtsp_server_missing
from benchmarks._streams import Composed, free_port
from cordon.live import LiveIndex, Monitor
from tests.test_live_streams import (
    assert_restream_alerted_once,
    bank_db,
    drain,
    index,
    kinds,
    media,
    single_connection,
)

__all__ = ["bank_db", "index", "media"]  # module fixtures shared with the stream tests


@pytest.mark.slow
def test_rtsp_stream_from_a_server(media: dict[str, Composed], index: LiveIndex) -> None:
    missing = rtsp_server_missing()
    if missing:
        pytest.skip(missing)
    with RtspServer(media["restream"].path) as server:
        monitor = Monitor(index, single_connection())
        monitor.start(server.url)
        events = drain(monitor, timeout=40)
        [status] = monitor.status()
    assert_restream_alerted_once(events, status)


def test_rtsp_server_that_is_not_there_ends_in_error(index: LiveIndex) -> None:
    monitor = Monitor(index, single_connection())
    monitor.start(f"rtsp://127.0.0.1:{free_port()}/live")
    events = drain(monitor, timeout=30)
    assert kinds(events)[-1] == "error", events
