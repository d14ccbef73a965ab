"""Live monitor without streams: the alert rules, the source guard, the capacity limit."""

from __future__ import annotations

import threading

import pytest

from cordon.errors import CordonError
from cordon.live import CapacityError, LiveIndex, Monitor, MonitorConfig, check_source
from cordon.live.alerts import AlertRules, AlertTracker
from cordon.live.index import FrameHit
from cordon.live.monitor import THREAD_PREFIX
from cordon.live.sources import SourceKind, SourceRefused
from cordon.signals.pdq import PdqHash
from cordon.signals.vpdq import VpdqFrame, VpdqHash


def video_hit(entry: int, ref: float, distance: int = 10) -> FrameHit:
    return FrameHit(entry, "vpdq", distance, ref, 1.0)


def test_one_coincidental_frame_never_alerts() -> None:
    tracker = AlertTracker(AlertRules(), sample_period=0.5)
    decisions = []
    # The same entry hit every few seconds at unrelated places of the reference.
    for t, ref in [(0.0, 40.0), (3.0, 2.0), (6.0, 90.0), (9.0, 15.0), (12.0, 60.0)]:
        decisions += tracker.observe(t, [video_hit(1, ref)])
        decisions += tracker.observe(t + 0.5, [])
    assert decisions == []


def test_frames_stuck_on_one_reference_time_do_not_count_as_a_run() -> None:
    tracker = AlertTracker(AlertRules(), sample_period=0.5)
    decisions = [d for t in (0.0, 0.5) for d in tracker.observe(t, [video_hit(1, 7.0)])]
    assert decisions == []


def test_advancing_run_alerts_once_then_reports_progress_and_loss() -> None:
    rules = AlertRules(update_interval=5.0, lost_after=10.0)
    tracker = AlertTracker(rules, sample_period=0.5)
    events = []
    for step in range(60):  # 30 s of banked content from its second 20 on
        t = 100 + step * 0.5
        events += tracker.observe(t, [video_hit(4711, 20 + step * 0.5 // 1, 8)])
    kinds = [e.kind for e in events]
    assert kinds[0] == "alert" and kinds.count("alert") == 1
    alert = events[0]
    assert alert.entry_id == 4711 and alert.ref_seconds == 21.0 and alert.hits >= 2
    progress = [e for e in events if e.kind == "progress"]
    # At most one update per 5 s of stream time, each with more of the reference seen.
    assert 4 <= len(progress) <= 6
    assert [p.seen_seconds for p in progress] == sorted(p.seen_seconds for p in progress)
    assert progress[-1].seen_seconds >= 25
    later = [d for i in range(30) for d in tracker.observe(131 + i * 0.5, [])]
    assert [d.kind for d in later] == ["lost"]


def test_banked_image_needs_a_held_picture() -> None:
    tracker = AlertTracker(AlertRules(static_hits=4, static_span=1.0), sample_period=0.5)
    image = FrameHit(9, "pdq", 5, None, 0.0)
    kinds = [[d.kind for d in tracker.observe(t * 0.5, [image])] for t in range(5)]
    assert kinds == [[], [], [], ["alert"], []]


def test_private_and_local_addresses_are_refused_unless_allowed(tmp_path) -> None:
    for url in ("http://127.0.0.1:8080/live.ts", "rtmp://10.1.2.3/live/key",
                "http://169.254.169.254/latest", "http://[::1]/x.m3u8", "srt://localhost:9000",
                "rtsp://192.168.0.10/cam", "http://[::ffff:10.0.0.1]/x"):
        with pytest.raises(SourceRefused, match="private or local address"):
            check_source(url)
        assert check_source(url, allow_private=True).kind is SourceKind.NETWORK
    with pytest.raises(SourceRefused, match="unsupported stream protocol"):
        check_source("gopher://example.org/x")
    with pytest.raises(SourceRefused, match="cannot resolve"):
        check_source("http://no-such-host.invalid/live.ts")
    with pytest.raises(SourceRefused, match="no such file"):
        check_source(str(tmp_path / "missing.ts"))
    (tmp_path / "clip.ts").write_bytes(b"x")
    assert check_source(str(tmp_path / "clip.ts")).kind is SourceKind.FILE
    with pytest.raises(SourceRefused, match="local files are not accepted"):
        check_source(str(tmp_path / "clip.ts"), allow_files=False)


def small_index() -> LiveIndex:
    index = LiveIndex()
    frame = VpdqFrame(0, 100, "f" * 32 + "0" * 32, 0.0)
    index.add_videos([(1, VpdqHash((frame,)))])
    index.add_images([(2, PdqHash("0f" * 32, 100)), (3, PdqHash("0f" * 32, 10))])
    assert (index.video_frames, index.images) == (1, 1)  # the weak image is left out
    return index


def live_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(THREAD_PREFIX)]


def test_a_burst_of_start_requests_is_refused_past_capacity() -> None:
    # Port 9 (discard) on loopback: nothing listens, every stream fails fast and retries.
    config = MonitorConfig(max_streams=5, allow_private=True, max_reconnects=1000,
                           backoff_initial=5.0)
    monitor = Monitor(small_index(), config)
    accepted, refused = [], []
    for i in range(1000):
        try:
            accepted.append(monitor.start(f"http://127.0.0.1:9/live{i}.ts"))
        except CapacityError as exc:
            refused.append(str(exc))
    assert len(accepted) == 5 and len(refused) == 995
    assert "already watching 5 streams" in refused[0]
    assert len(live_threads()) == 6  # five streams and the watchdog
    assert monitor.close(timeout=10)
    assert live_threads() == []
    with pytest.raises(CordonError, match="closed"):
        monitor.start("http://127.0.0.1:9/again.ts")
