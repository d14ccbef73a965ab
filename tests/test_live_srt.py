"""The live monitor on SRT with a real stream on loopback: `srt-live-transmit` publishes a
re-stream as an SRT listener in real time, and the monitor (through its relay, the bundled
FFmpeg having no srt protocol) alerts once on the banked clip. With nobody listening, or
without the relay tool, an SRT stream ends in a clear error. srt-tools is installed by
scripts/ensure-test-tools."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks._srt import SrtPublisher, srt_tools_missing
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
def test_srt_stream_from_a_publisher(media: dict[str, Composed], index: LiveIndex) -> None:
    missing = srt_tools_missing()
    if missing:
        pytest.skip(missing)
    with SrtPublisher(media["restream"].path) as publisher:
        monitor = Monitor(index, single_connection())
        monitor.start(publisher.url)
        events = drain(monitor, timeout=40)
        [status] = monitor.status()
    assert_restream_alerted_once(events, status)


@pytest.mark.parametrize("relay", ["installed", "missing"])
def test_srt_that_cannot_be_received_ends_in_a_clear_error(
    relay: str, index: LiveIndex, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    if relay == "installed":
        if srt_tools_missing():
            pytest.skip(srt_tools_missing())
        expected = "srt stream"  # nobody listens on the port
    else:
        monkeypatch.setenv("PATH", str(tmp_path))  # a PATH where srt-live-transmit is not
        expected = "srt-tools"
    monitor = Monitor(index, single_connection(open_timeout=2.0, read_timeout=2.0))
    monitor.start(f"srt://127.0.0.1:{free_port()}")
    events = drain(monitor, timeout=30)
    assert kinds(events)[-1] == "error", events
    assert expected in events[-1].message.lower(), events
