"""Live monitor against real streams published on loopback: end to end through `cordon
watch`, HLS, standard input, and the ways streams go wrong."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks._streams import (
    Composed,
    HlsPublisher,
    LiveHttpServer,
    Part,
    SilentServer,
    compose_stream,
    free_port,
)
from cordon.banks import Banks
from cordon.hashing import hash_file
from cordon.live import (
    Event,
    LiveIndex,
    MatchEvent,
    Monitor,
    MonitorConfig,
    ReaderConfig,
    StreamStatus,
    index_from_banks,
)
from cordon.live.monitor import THREAD_PREFIX
from cordon.signals import get_signal_type
from cordon.store import Store
from tests.shared_data import CORPUS, INTEROP, require

BANKED = "chair-orig-22-sd-bar.mp4"
SIZE = (480, 270)
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Composed]:
    banked = require(INTEROP / "video" / BANKED)
    bikes, bunny = require(CORPUS / "videos" / "bikes.mp4"), CORPUS / "videos" / "bigbuckbunny.mp4"
    out = tmp_path_factory.mktemp("streams")
    fast = {"size": SIZE, "preset": "ultrafast", "gop_seconds": 1.0}
    return {
        # Unrelated footage, 4 s of the banked clip (disguised), unrelated footage.
        "restream": compose_stream(out / "restream.ts", [
            Part(bikes, 4), Part(banked, 4, start=6, disguise=True), Part(bunny, 3)], **fast),
        "unrelated": compose_stream(out / "unrelated.ts", [
            Part(bunny, 5), Part(bikes, 6, start=3)], **fast),
        "mpeg2": compose_stream(out / "mpeg2.ts", [Part(bikes, 2)], codec="mpeg2video",
                                size=SIZE, gop_seconds=1.0),
    }


@pytest.fixture(scope="module")
def bank_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'cordon.db'}"
    banks = Banks(Store(url))
    banks.create("tvec")
    vpdq = hash_file(require(INTEROP / "video" / BANKED), [get_signal_type("vpdq")])
    assert vpdq.error is None
    banks.add("tvec", {"vpdq": vpdq.signals["vpdq"]}, labels=["attack-footage"])
    return url


@pytest.fixture(scope="module")
def index(bank_db: str) -> LiveIndex:
    return index_from_banks(Banks(Store(bank_db)))


@pytest.fixture()
def server() -> Iterator[LiveHttpServer]:
    with LiveHttpServer() as publisher:
        yield publisher


def quick(**reader: object) -> MonitorConfig:
    return MonitorConfig(
        reader=ReaderConfig(open_timeout=2.0, read_timeout=2.0, **reader),  # type: ignore[arg-type]
        allow_private=True, max_reconnects=1, backoff_initial=0.2, stall_after=1.0,
    )


def single_connection(open_timeout: float = 5.0, read_timeout: float = 3.0) -> MonitorConfig:
    """No reconnection: a server whose broadcast has ended may play it again from the start
    (a shared RTSP media), which would show the banked clip twice."""
    return MonitorConfig(reader=ReaderConfig(open_timeout=open_timeout,
                                             read_timeout=read_timeout),
                         allow_private=True, max_reconnects=0, stall_after=1.0)


def assert_restream_alerted_once(events: list[Event], status: StreamStatus) -> None:
    """The re-stream of `media`: one alert, on the banked clip, after a clean start."""
    alerts = [e for e in events if isinstance(e, MatchEvent) and e.kind == "alert"]
    assert len(alerts) == 1 and 5.0 <= (alerts[0].ref_seconds or 0) <= 10.5, events
    assert kinds(events)[0] == "started", events
    assert status.video.startswith("h264 480x270"), status
    assert status.frames_decoded > 100, status


def drain(monitor: Monitor, timeout: float) -> list[Event]:
    """Events until every stream has finished (the test fails rather than hangs)."""
    events: list[Event] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            events.append(monitor.events.get(timeout=0.1))
        except queue.Empty:
            if not monitor.running:
                break
    assert not monitor.running, f"streams still running after {timeout} s: {monitor.status()}"
    assert monitor.close(timeout=5)
    assert not [t for t in threading.enumerate() if t.name.startswith(THREAD_PREFIX)]
    return events


def kinds(events: list[Event]) -> list[str]:
    return [e.kind for e in events]


def cordon(db: str, *args: str, stdin: bytes | None = None, timeout: float = 40) -> tuple[
        int, str, str]:
    done = subprocess.run(
        [sys.executable, "-m", "cordon", "--db", db, *args], input=stdin, capture_output=True,
        timeout=timeout, cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    return done.returncode, done.stdout.decode(), done.stderr.decode()


@pytest.mark.slow
def test_watch_alerts_on_a_restream_and_not_on_unrelated_footage(
    media: dict[str, Composed], bank_db: str, server: LiveHttpServer
) -> None:
    """End to end: two live MPEG-TS streams over HTTP, `cordon watch` on both."""
    on_air = time.time() + 0.5
    restream = server.add("restream.ts", media["restream"].path, on_air=on_air, once=True)
    unrelated = server.add("unrelated.ts", media["unrelated"].path, on_air=on_air, once=True)
    code, out, err = cordon(bank_db, "watch", restream, unrelated, "--allow-private",
                            "--format", "json", "--reconnects", "0", "--timeout", "3")
    assert code == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    alerts = [x for x in lines if x["event"] == "alert"]
    assert len(alerts) == 1, lines
    alert = alerts[0]
    assert alert["stream"] == restream and alert["bank"] == "tvec"
    assert alert["labels"] == ["attack-footage"] and alert["signal_type"] == "vpdq"
    assert alert["distance"] <= 31
    # The banked clip was cut in from its second 6; the stream shows seconds 6-10.
    assert 5.0 <= alert["ref_seconds"] <= 10.5
    banked_at = on_air + media["restream"].span(BANKED.removesuffix(".mp4"))[0]
    detected = time.mktime(time.strptime(alert["detected_at"][:19], "%Y-%m-%dT%H:%M:%S"))
    assert detected - time.timezone - banked_at < 4.0  # seconds from the cut to the alert
    for stream in (restream, unrelated):
        states = [x["event"] for x in lines if x["stream"] == stream and "state" in x]
        assert states[0] == "started" and states[-1] == "ended", states


@pytest.mark.slow
def test_hls_live_playlist(media: dict[str, Composed], index: LiveIndex, tmp_path: Path) -> None:
    publisher = HlsPublisher(media["restream"].path, tmp_path / "hls", segment_seconds=1.0)
    try:
        publisher.wait_ready()
        monitor = Monitor(index, quick())
        monitor.start(publisher.url)
        events = drain(monitor, timeout=30)
    finally:
        publisher.close()
    alerts = [e for e in events if isinstance(e, MatchEvent) and e.kind == "alert"]
    assert len(alerts) == 1 and alerts[0].ref_seconds is not None
    assert kinds(events)[0] == "started" and kinds(events)[-1] == "ended"


def test_mpegts_on_standard_input(media: dict[str, Composed], bank_db: str) -> None:
    data = media["restream"].path.read_bytes()
    code, out, err = cordon(bank_db, "watch", "-", stdin=data)
    assert code == 0, err
    assert "ALERT" in out and "tvec/" in out and "attack-footage" in out
    assert out.splitlines()[-1].split()[1] == "ENDED"


def test_garbage_on_standard_input(bank_db: str) -> None:
    garbage = os.urandom(300_000)
    code, out, err = cordon(bank_db, "watch", "-", "--format", "json", stdin=garbage,
                            timeout=20)
    assert code == 1, err
    last = json.loads(out.splitlines()[-1])
    assert last["event"] == "error" and "cannot open the stream" in last["message"]
    assert "Traceback" not in err


def test_private_address_refused_without_the_flag(bank_db: str) -> None:
    code, out, err = cordon(bank_db, "watch", "http://127.0.0.1:8080/live.ts", timeout=20)
    assert code == 2 and out == ""
    assert "private or local address 127.0.0.1" in err and "--allow-private" in err


def test_unreachable_url_gives_up_quickly(index: LiveIndex) -> None:
    monitor = Monitor(index, quick())
    monitor.start(f"http://127.0.0.1:{free_port()}/live.ts")
    started = time.monotonic()
    events = drain(monitor, timeout=15)
    assert time.monotonic() - started < 10
    assert kinds(events) == ["reconnecting", "error"]
    assert "connection refused" in events[-1].message.lower()


def test_stream_that_never_starts_times_out(index: LiveIndex) -> None:
    silent = SilentServer()
    try:
        monitor = Monitor(index, quick())
        monitor.start(silent.url)
        started = time.monotonic()
        events = drain(monitor, timeout=20)
    finally:
        silent.close()
    assert time.monotonic() - started < 12
    assert kinds(events) == ["reconnecting", "error"]


def test_stream_that_ends_abruptly(media: dict[str, Composed], index: LiveIndex,
                                   server: LiveHttpServer) -> None:
    url = server.add("cut.ts", media["unrelated"].path, once=True, cut_after=3.0)
    monitor = Monitor(index, quick())
    monitor.start(url)
    events = drain(monitor, timeout=20)
    assert kinds(events)[0] == "started"
    assert kinds(events)[-1] == "ended" and "gave up after 1 reconnection" in events[-1].message
    assert not any(isinstance(e, MatchEvent) for e in events)


def test_stalled_stream_is_reported_then_resumes(media: dict[str, Composed], index: LiveIndex,
                                                 server: LiveHttpServer) -> None:
    url = server.add("pause.ts", media["unrelated"].path, once=True, pause=(2.0, 2.5))
    monitor = Monitor(index, MonitorConfig(
        reader=ReaderConfig(open_timeout=3.0, read_timeout=6.0), allow_private=True,
        max_reconnects=0, stall_after=1.0))
    monitor.start(url)
    events = drain(monitor, timeout=25)
    seen = kinds(events)
    assert seen[:3] == ["started", "stalled", "resumed"], seen
    assert seen[-1] == "ended"


def test_codec_switch_mid_stream(media: dict[str, Composed], bank_db: str) -> None:
    """H.264 then MPEG-2 video on the same pipe: no hang, no traceback, a clear end."""
    data = media["restream"].path.read_bytes() + media["mpeg2"].path.read_bytes()
    code, out, err = cordon(bank_db, "watch", "-", "--format", "json", stdin=data, timeout=30)
    lines = [json.loads(line) for line in out.splitlines()]
    assert "Traceback" not in err
    assert [x["event"] for x in lines].count("alert") == 1
    assert lines[-1]["event"] in ("ended", "error")
    assert code == (1 if lines[-1]["event"] == "error" else 0)


def test_a_monitor_short_of_cpu_skips_to_live(media: dict[str, Composed], index: LiveIndex,
                                              server: LiveHttpServer,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Hashing made slow (as on a starved machine): the stream falls behind live, skips to
    live on keyframes, and ends close to when the broadcast ends instead of a backlog later."""
    import cordon.live.monitor as monitor_module

    real = monitor_module.hash_luma

    def starved(luma: object, step: int = 1) -> object:
        time.sleep(0.15)
        return real(luma, step)  # type: ignore[arg-type]

    monkeypatch.setattr(monitor_module, "hash_luma", starved)
    on_air = time.time()
    url = server.add("slow.ts", media["unrelated"].path, once=True, on_air=on_air)
    monitor = Monitor(index, MonitorConfig(
        reader=ReaderConfig(open_timeout=3.0, read_timeout=3.0, catch_up_after=1.5),
        allow_private=True, max_reconnects=0))
    monitor.start(url)
    lags = []
    while monitor.running:
        lags.append(monitor.status()[0].lag_seconds)
        time.sleep(0.2)
    ended = time.time()
    [status] = monitor.status()
    events = drain(monitor, timeout=5)
    assert kinds(events)[-1] == "ended"
    assert status.catch_ups >= 1 and max(lags) > 1.0
    # Without skipping, 11 s of stream at 0.15 s a frame would take over 30 s.
    assert ended - on_air < media["unrelated"].parts[-1][2] + 8.0, (ended - on_air, status)


def test_an_unpaced_file_is_read_as_fast_as_it_decodes(media: dict[str, Composed],
                                                       index: LiveIndex) -> None:
    """`pace_files=False` (the benchmark's CPU measure): the 11 s re-stream file is read in
    less than its duration, with the same alert on the banked clip."""
    composed = media["restream"]
    monitor = Monitor(index, MonitorConfig(reader=ReaderConfig(pace_files=False)))
    started = time.monotonic()
    monitor.start(str(composed.path))
    events = drain(monitor, timeout=30)
    elapsed = time.monotonic() - started
    duration = composed.parts[-1][2]
    assert elapsed < duration * 0.8, elapsed
    alerts = [e for e in events if isinstance(e, MatchEvent) and e.kind == "alert"]
    assert len(alerts) == 1
    start, end = composed.span(Path(BANKED).stem)
    assert start < alerts[0].stream_seconds < end
    assert kinds(events)[-1] == "ended"
