"""The live monitor on SRT with a real stream on loopback: `srt-live-transmit` publishes a
re-stream as an SRT listener in real time, and the monitor (through its relay, the bundled
FFmpeg having no srt protocol) alerts once on the banked clip. Without the relay tool an SRT
stream ends in a clear error. srt-tools is installed by scripts/ensure-test-tools."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks._srt import SrtPublisher, srt_tools_missing
from benchmarks._streams import Composed, free_port
from cordon.live import LiveIndex, MatchEvent, Monitor, MonitorConfig, ReaderConfig
from tests.test_live_streams import bank_db, drain, index, kinds, media

__all__ = ["bank_db", "index", "media"]  # module fixtures shared with the stream tests


def config() -> MonitorConfig:
    return MonitorConfig(reader=ReaderConfig(open_timeout=5.0, read_timeout=3.0),
                         allow_private=True, max_reconnects=0, stall_after=1.0)


@pytest.mark.slow
def test_srt_stream_from_a_publisher(media: dict[str, Composed], index: LiveIndex) -> None:
    missing = srt_tools_missing()
    if missing:
        pytest.skip(missing)
    with SrtPublisher(media["restream"].path) as publisher:
        monitor = Monitor(index, config())
        monitor.start(publisher.url)
        events = drain(monitor, timeout=40)
        [status] = monitor.status()
    alerts = [e for e in events if isinstance(e, MatchEvent) and e.kind == "alert"]
    assert len(alerts) == 1 and 5.0 <= (alerts[0].ref_seconds or 0) <= 10.5, events
    assert kinds(events)[0] == "started", events
    assert status.video.startswith("h264 480x270"), status
    assert status.frames_decoded > 100, status


def test_srt_with_nobody_listening_ends_in_a_clear_error(index: LiveIndex) -> None:
    if srt_tools_missing():
        pytest.skip(srt_tools_missing())
    monitor = Monitor(index, MonitorConfig(reader=ReaderConfig(open_timeout=2.0,
                                                               read_timeout=2.0),
                                           allow_private=True, max_reconnects=0))
    monitor.start(f"srt://127.0.0.1:{free_port()}")
    events = drain(monitor, timeout=30)
    assert kinds(events)[-1] == "error", events
    assert "srt" in events[-1].message.lower(), events


def test_srt_without_the_relay_tool_ends_in_a_clear_error(
    index: LiveIndex, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # a PATH where srt-live-transmit is not
    monitor = Monitor(index, MonitorConfig(reader=ReaderConfig(open_timeout=2.0,
                                                               read_timeout=2.0),
                                           allow_private=True, max_reconnects=0))
    monitor.start(f"srt://127.0.0.1:{free_port()}")
    events = drain(monitor, timeout=30)
    assert kinds(events)[-1] == "error", events
    assert "srt-tools" in events[-1].message, events
