"""Live-stream monitoring: follow streams, sample and hash frames, alert on banked content.

    index = index_from_banks(banks)              # banked vPDQ frames and PDQ images
    with Monitor(index, MonitorConfig(max_streams=30)) as monitor:
        monitor.start("rtmp://example.org/live/key")
        event = monitor.events.get()             # MatchEvent or StatusEvent
"""

from cordon.live.alerts import AlertRules
from cordon.live.events import Event, MatchEvent, StatusEvent, StreamState
from cordon.live.index import LiveIndex, index_from_banks
from cordon.live.monitor import CapacityError, Monitor, MonitorConfig, StreamStatus
from cordon.live.reader import DECODE_MODES, ReaderConfig
from cordon.live.sources import SourceRefused, check_source

__all__ = [
    "DECODE_MODES",
    "AlertRules",
    "CapacityError",
    "Event",
    "LiveIndex",
    "MatchEvent",
    "Monitor",
    "MonitorConfig",
    "ReaderConfig",
    "SourceRefused",
    "StatusEvent",
    "StreamState",
    "StreamStatus",
    "check_source",
    "index_from_banks",
]
