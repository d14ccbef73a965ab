"""The live monitor on each streaming protocol with a real stream on loopback: RTMP (nginx's
RTMP module as the server, installed by scripts/ensure-test-tools); HLS, MPEG-TS over HTTP,
HTTP-FLV and standard input are in test_live_streams.py and test_node_streams.py, RTSP in
test_live_rtsp.py, SRT in test_live_srt.py."""

from __future__ import annotations

import pytest

from benchmarks._streams import (
    Composed,
    LiveHttpServer,
    RtmpPublisher,
    RtmpServer,
    rtmp_server_missing,
)
from cordon.live import LiveIndex, MatchEvent, Monitor
from tests.test_live_streams import bank_db, drain, index, kinds, media, quick

__all__ = ["bank_db", "index", "media"]  # module fixtures shared with the stream tests


@pytest.mark.slow
def test_rtmp_stream_from_a_server(media: dict[str, Composed], index: LiveIndex) -> None:
    missing = rtmp_server_missing()
    if missing:
        pytest.skip(missing)
    with RtmpServer() as server:
        url = server.url("restream")
        publisher = RtmpPublisher(media["restream"].path, url)
        try:
            monitor = Monitor(index, quick())
            monitor.start(url)
            publisher.wait(timeout=30)
            assert publisher.error is None, publisher.error
            events = drain(monitor, timeout=30)
        finally:
            publisher.close()
    alerts = [e for e in events if isinstance(e, MatchEvent) and e.kind == "alert"]
    assert len(alerts) == 1 and 5.0 <= (alerts[0].ref_seconds or 0) <= 10.5, events
    assert kinds(events)[0] == "started" and kinds(events)[-1] in ("ended", "reconnecting",
                                                                    "error")


def test_mpegts_bytes_sent_on_their_timestamps(media: dict[str, Composed],
                                               index: LiveIndex) -> None:
    """The benchmark's cheap publisher: a client joining late starts at a keyframe."""
    with LiveHttpServer() as server:
        url = server.add("raw.ts", media["restream"].path, raw=True, once=True)
        monitor = Monitor(index, quick())
        monitor.start(url)
        events = drain(monitor, timeout=30)
        [status] = monitor.status()
    alerts = [e for e in events if isinstance(e, MatchEvent) and e.kind == "alert"]
    assert len(alerts) == 1, events
    assert kinds(events)[0] == "started" and status.frames_decoded > 100
    assert status.video.startswith("h264 480x270")

