"""The live monitor on RTSP with a real server on loopback: GStreamer's RTSP server plays a
re-stream (unrelated footage, the banked clip disguised, unrelated footage) in real time over
RTP, and the monitor must alert once, on the banked clip, and end cleanly when the broadcast
ends. Debian's GStreamer packages are installed by scripts/ensure-test-tools."""

from __future__ import annotations

import pytest

from benchmarks._rtsp import RtspServer, rtsp_server_missing
from benchmarks._streams import Composed
from cordon.live import LiveIndex, MatchEvent, Monitor, MonitorConfig, ReaderConfig
from tests.test_live_streams import bank_db, drain, index, kinds, media

__all__ = ["bank_db", "index", "media"]  # module fixtures shared with the stream tests


def config() -> MonitorConfig:
    # No reconnection: a shared RTSP media that has ended would be played again from the start.
    return MonitorConfig(reader=ReaderConfig(open_timeout=5.0, read_timeout=3.0),
                         allow_private=True, max_reconnects=0, stall_after=1.0)


@pytest.mark.slow
def test_rtsp_stream_from_a_server(media: dict[str, Composed], index: LiveIndex) -> None:
    missing = rtsp_server_missing()
    if missing:
        pytest.skip(missing)
    with RtspServer(media["restream"].path) as server:
        monitor = Monitor(index, config())
        monitor.start(server.url)
        events = drain(monitor, timeout=40)
        [status] = monitor.status()
    alerts = [e for e in events if isinstance(e, MatchEvent) and e.kind == "alert"]
    assert len(alerts) == 1 and 5.0 <= (alerts[0].ref_seconds or 0) <= 10.5, events
    assert kinds(events)[0] == "started", events
    assert status.video.startswith("h264 480x270"), status
    assert status.frames_decoded > 100, status


def test_rtsp_server_that_is_not_there_ends_in_error(index: LiveIndex) -> None:
    from benchmarks._streams import free_port

    monitor = Monitor(index, config())
    monitor.start(f"rtsp://127.0.0.1:{free_port()}/live")
    events = drain(monitor, timeout=30)
    assert kinds(events)[-1] == "error", events
