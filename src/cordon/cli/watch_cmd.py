"""`cordon watch`: follow live streams and alert as soon as banked content appears."""

from __future__ import annotations

import queue
import signal
import sys
import threading
from typing import Any

import click

from cordon.banks import Banks
from cordon.banks.service import Entry
from cordon.cli.bank_cmd import DB_OPTION, open_banks
from cordon.cli.output import FORMAT_OPTION, print_json, warn
from cordon.errors import CordonError
from cordon.live import (
    DECODE_MODES,
    Event,
    MatchEvent,
    Monitor,
    MonitorConfig,
    ReaderConfig,
    StatusEvent,
    check_source,
    index_from_banks,
)


class _Entries:
    """Bank, labels and source of matched entries, looked up once each."""

    def __init__(self, banks: Banks) -> None:
        self._banks = banks
        self._cache: dict[int, Entry | None] = {}

    def get(self, entry_id: int) -> Entry | None:
        if entry_id not in self._cache:
            self._cache[entry_id] = self._banks.entries_by_id([entry_id]).get(entry_id)
        return self._cache[entry_id]


def _match_json(event: MatchEvent, entry: Entry | None) -> dict[str, Any]:
    data = event.to_json()
    return {
        "event": data.pop("event"),
        "stream": data.pop("stream"),
        "stream_seconds": data.pop("stream_seconds"),
        "detected_at": data.pop("detected_at"),
        "bank": entry.bank if entry else None,
        "entry": data.pop("entry"),
        "signal_type": data.pop("signal_type"),
        "distance": data.pop("distance"),
        "labels": entry.labels if entry else [],
        "ref_seconds": data.pop("ref_seconds"),
        **data,
    }


def _text(event: Event, entry: Entry | None) -> str:
    if isinstance(event, StatusEvent):
        return (f"{event.at:%H:%M:%S}  {event.kind.upper():<12} {event.stream}  "
                f"at {event.stream_seconds:.1f}s  {event.message}")
    where = f"{entry.bank}/{event.entry_id}" if entry else f"entry {event.entry_id}"
    labels = ",".join(entry.labels) if entry and entry.labels else "-"
    ref = "" if event.ref_seconds is None else f"  ref {event.ref_seconds:.1f}s"
    seen = f"{event.seen_seconds:.0f} s of {where} so far"
    if event.kind == "lost":
        seen = f"not seen for a while; {event.seen_seconds:.0f} s of {where} in total"
    return (f"{event.detected_at:%H:%M:%S}  {event.kind.upper():<12} {event.stream}  "
            f"at {event.stream_seconds:.1f}s  {where}  {event.signal_type} "
            f"distance={event.distance}  labels={labels}{ref}  ({seen})")


@click.command("watch")
@click.argument("urls", nargs=-1, required=True, metavar="URL...")
@click.option("--bank", "bank_names", multiple=True, metavar="NAME",
              help="Match against this bank (repeatable; default: every bank).")
@click.option("--fps", type=click.FloatRange(0, 60), default=0.0, show_default=True,
              help="Frames per second of each stream that are hashed and matched; 0: every "
              "decoded frame (fastest detection of moving footage).")
@click.option("--decode", "decode_mode", type=click.Choice(DECODE_MODES), default="auto",
              show_default=True,
              help="auto: keyframes only when the GOP is short enough, else a fast decode "
              "(no deblocking, no B-frames); fast, full or key to force one.")
@click.option("--max-streams", type=click.IntRange(1, 10_000), default=32, show_default=True,
              help="Streams watched at once; more are refused.")
@click.option("--allow-private", is_flag=True,
              help="Accept URLs on private, loopback or link-local addresses.")
@click.option("--stall-after", type=click.FloatRange(0.5, 3600), default=5.0,
              show_default=True, help="Seconds without video frames before a stream is "
              "reported stalled.")
@click.option("--timeout", "read_timeout", type=click.FloatRange(0.5, 600), default=10.0,
              show_default=True, help="Seconds to wait when connecting or reading before "
              "reconnecting.")
@click.option("--reconnects", type=click.IntRange(0, 1000), default=5, show_default=True,
              help="Consecutive failed reconnections before a stream is given up.")
@click.option("--node", "node_url", metavar="URL",
              help="Have this node watch the streams (POST /v1/streams): its rules, match "
              "log and webhooks see the alerts. --fps, --decode, --max-streams, "
              "--allow-private, --stall-after, --timeout and --reconnects are then the "
              "node's settings.")
@click.option("--token", envvar="CORDON_NODE_TOKEN", metavar="T", default="",
              help="A node token (or $CORDON_NODE_TOKEN), with --node.")
@click.option("--label", "labels", multiple=True, metavar="LABEL",
              help="With --node: alert only on entries with this label (repeatable; "
              "`family:*` for a family).")
@FORMAT_OPTION
@DB_OPTION
def watch_command(
    urls: tuple[str, ...],
    bank_names: tuple[str, ...],
    fps: float,
    decode_mode: str,
    max_streams: int,
    allow_private: bool,
    stall_after: float,
    read_timeout: float,
    reconnects: int,
    node_url: str | None,
    token: str,
    labels: tuple[str, ...],
    output_format: str,
    database_url: str | None,
) -> None:
    """Watch live streams (RTMP, HLS, SRT, RTSP, HTTP-FLV, MPEG-TS over HTTP, a file played
    in real time, or - for MPEG-TS/FLV on standard input) for banked content.

    Prints one alert per stream and banked entry as soon as a short run of sampled frames
    matches it, then progress lines with how much of it has been seen, and status lines
    (started, stalled, reconnecting, ended). Runs until every stream has ended, or Ctrl-C.
    Exit status: 0 when every stream was followed to its end, 1 when one failed, 2 on bad
    usage.
    """
    if node_url:
        _watch_on_node(node_url, token, urls, bank_names, labels, output_format)
        return
    if labels:
        raise click.UsageError("--label filters alerts of a node: use it with --node")
    if len(urls) > max_streams:
        raise click.UsageError(
            f"{len(urls)} streams given, more than --max-streams {max_streams}"
        )
    for url in urls:
        # Every URL is checked before anything starts: one bad URL is a usage error.
        check_source(url, allow_private=allow_private)
    banks = open_banks(database_url)
    for name in bank_names:
        banks.get(name)
    index = index_from_banks(banks, bank_names or None)
    if not len(index):
        raise CordonError("the banks hold no vpdq or pdq signal to watch streams for")
    config = MonitorConfig(
        reader=ReaderConfig(fps=fps, decode=decode_mode, open_timeout=read_timeout,
                            read_timeout=read_timeout),
        max_streams=max_streams,
        stall_after=stall_after,
        max_reconnects=reconnects,
        allow_private=allow_private,
    )
    entries = _Entries(banks)
    stop = threading.Event()
    previous = signal.getsignal(signal.SIGTERM)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    failed = False
    monitor = Monitor(index, config, stdin=sys.stdin.buffer if "-" in urls else None)
    try:
        for url in urls:
            monitor.start(url)
        if output_format == "text":
            warn(f"watching {len(urls)} stream(s) for {index.video_frames} banked video frames "
                 f"and {index.images} banked images")
        while not stop.is_set():
            try:
                event = monitor.events.get(timeout=0.2)
            except queue.Empty:
                if not monitor.running and monitor.events.empty():
                    break
                continue
            failed = failed or (isinstance(event, StatusEvent) and event.kind == "error")
            entry = entries.get(event.entry_id) if isinstance(event, MatchEvent) else None
            if output_format == "json":
                data = (_match_json(event, entry) if isinstance(event, MatchEvent)
                        else event.to_json())
                print_json(data)
            else:
                click.echo(_text(event, entry))
                sys.stdout.flush()
    except KeyboardInterrupt:
        stop.set()
    finally:
        clean = monitor.close()
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, previous)
        if stop.is_set() and output_format == "text":
            warn("stopped" if clean else "stopped (some streams were still closing)")
    if failed:
        raise SystemExit(1)


def _watch_on_node(node_url: str, token: str, urls: tuple[str, ...],
                   bank_names: tuple[str, ...], labels: tuple[str, ...],
                   output_format: str) -> None:
    from cordon.cli.watch_node import watch_on_node

    if not token:
        raise click.UsageError("--node needs a node token: --token T or $CORDON_NODE_TOKEN")
    if bank_names:
        raise click.UsageError("--bank is for the local banks; a node matches its own")
    if "-" in urls:
        raise click.UsageError("standard input cannot be watched by a node")
    stop = threading.Event()
    previous = signal.getsignal(signal.SIGTERM)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        failed = watch_on_node(node_url, token, urls, labels, output_format, stop)
    finally:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, previous)
    if failed:
        raise SystemExit(1)
