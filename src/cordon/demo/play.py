"""`cordon demo play`: the story, against a running demo, through the public APIs only.

An incident is declared at the hub and a platform contributes the attack footage it sees; a
variant of that banked video is uploaded at the node and blocked; a live stream showing the
footage is flagged; a user reports the video and a reviewer decides. A step the running
servers have no API for is reported as skipped, not faked."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from cordon.demo import seed
from cordon.demo.home import DemoHome, DemoState
from cordon.demo.livefeed import LiveFeed
from cordon.demo.variants import video_variant
from cordon.errors import CordonError

Step = dict[str, Any]
Report = Callable[[Step], None]


def _client(url: str, token: str | None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=url, timeout=120, headers=headers)


def _call(client: httpx.Client, method: str, path: str, **kwargs: Any) -> Any:
    try:
        response = client.request(method, path, **kwargs)
    except httpx.HTTPError as exc:
        raise CordonError(f"cannot reach {client.base_url} ({exc.__class__.__name__}): is the "
                          "demo running? Start it with `cordon demo`") from None
    return seed.answer(response)


def _paths(client: httpx.Client) -> set[str]:
    return set(_call(client, "GET", "/openapi.json").get("paths", {}))


def pick_video(state: DemoState) -> Path:
    """A banked video of the corpus, quick to edit: the smallest of at least 100 kB."""
    if not state.corpus:
        raise CordonError("the demo home names no corpus; start the demo once with "
                          "`cordon demo`")
    root = Path(state.corpus)
    videos = [root / name for name in state.banked
              if (root / name).is_file() and _is_video(root / name)]
    if not videos:
        raise CordonError(f"no banked video in {root}: the story needs one")
    by_size = sorted(videos, key=lambda p: p.stat().st_size)
    large = [p for p in by_size if p.stat().st_size >= 100_000]
    return large[0] if large else by_size[-1]


def _is_video(path: Path) -> bool:
    from cordon.media.sniff import SNIFF_BYTES, sniff_content_type

    with open(path, "rb") as handle:
        content_type, _ = sniff_content_type(handle.read(SNIFF_BYTES))
    return content_type.value == "video"


class Story:
    def __init__(self, state: DemoState, work: Path, report: Report) -> None:
        if not state.hub_url or not state.node_url or not state.node_token:
            raise CordonError("the demo home has no running demo recorded; start it with "
                              "`cordon demo`")
        self.state = state
        self.work = work
        self.report = report
        self._stack = ExitStack()
        self.admin = self._stack.enter_context(_client(state.hub_url,
                                                       state.tokens[seed.ADMIN]))
        self.member = self._stack.enter_context(_client(state.hub_url,
                                                        state.tokens[seed.MEMBER]))
        self.node = self._stack.enter_context(_client(state.node_url, state.node_token))
        self.reviewer = self._stack.enter_context(_client(state.node_url,
                                                          state.reviewer_token))
        self.public = self._stack.enter_context(_client(state.node_url, None))
        self.hub_paths = _paths(self.admin)
        self.node_paths = _paths(self.node)
        self.video = pick_video(state)
        self.incident: dict[str, Any] | None = None
        self.upload: Path | None = None

    def close(self) -> None:
        self._stack.close()

    def skipped(self, step: str, why: str) -> None:
        self.report({"step": step, "skipped": why})

    # --- 1. the incident ------------------------------------------------------------------
    def declare_incident(self) -> None:
        if "/v1/incidents" not in self.hub_paths:
            self.skipped("incident", "this hub has no incident API")
            return
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        self.incident = _call(self.admin, "POST", "/v1/incidents", json={
            "level": "pci", "title": f"Demo attack streamed live ({stamp})",
            "bank": seed.BANK, "location": "demo city",
            "description": "Played by `cordon demo play`: footage of the sample corpus stands "
                           "in for the perpetrator's video."})
        incident_id = self.incident["id"]
        # The platform that took the first copy down shares its fingerprints under the
        # incident; the node can match them as soon as the hub pushes them.
        first_copy = video_variant(self.video, self.work / "first-copy.mp4", skip_seconds=0.5,
                                   logo=f"INC {incident_id}")
        signals = self._hash(first_copy)
        ids = _call(self.member, "POST", f"/v1/banks/{seed.BANK}/entries", json={"entries": [{
            "signals": signals, "labels": seed.LABELS["video"], "content_type": "video",
            "incident": incident_id, "note": f"first copy taken down, from {self.video.name}"}]})
        seconds = self._until_matchable({"md5": signals["md5"]}, ids["ids"][0])
        self.report({"step": "incident", "incident": incident_id,
                     "title": self.incident["title"], "label": self.incident.get("label"),
                     "declared_by": self.incident.get("declared_by"), "hub_entry": ids["ids"][0],
                     "matchable_at_node_after_s": round(seconds, 3)})

    def _hash(self, path: Path) -> dict[str, Any]:
        with open(path, "rb") as content:
            answer = _call(self.node, "POST", "/v1/hash", content=content,
                           headers={"Content-Type": "application/octet-stream"})
        return answer["signals"]  # type: ignore[no-any-return]

    def _until_matchable(self, signals: dict[str, Any], entry: int,
                         timeout: float = 30.0) -> float:
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            answer = _call(self.node, "POST", "/v1/match", json={"signals": signals})
            if any(m["entry"] == entry for m in answer["matches"]):
                return time.monotonic() - started
            time.sleep(0.05)
        raise CordonError(f"hub entry {entry} was not matchable at the node after "
                          f"{timeout:.0f} s; see the node log")

    # --- 2. a variant uploaded at the node ------------------------------------------------
    def upload_variant(self) -> None:
        self.upload = video_variant(self.video, self.work / "re-upload.mp4", skip_seconds=1.5)
        with open(self.upload, "rb") as content:
            answer = _call(self.node, "POST", "/v1/match",
                           files={"file": ("re-upload.mp4", content, "video/mp4")})
        matches = [{"bank": m["bank"], "entry": m["entry"], "signal_type": m["signal_type"],
                    "distance": m["distance"], "incident": m["incident"],
                    "aligned": (m.get("detail") or {}).get("run") or m["segments"] or None}
                   for m in answer["matches"]]
        actions = [{"action": a["action"], "rule": a["rule_name"], "entry": a["entry"]}
                   for a in answer["actions"]]
        self.report({"step": "upload", "source": self.video.name, "edit":
                     "re-encoded, shrunk into black bars, a logo added, the first 1.5 s cut",
                     "matches": matches, "actions": actions,
                     "blocked": any(a["action"] == "block" for a in actions)})

    # --- 3. a live stream -----------------------------------------------------------------
    def live_stream(self) -> None:
        if "/v1/streams" not in self.node_paths:
            self.skipped("live stream", "this node has no live stream API")
            return
        on_air = video_variant(self.video, self.work / "live.ts", skip_seconds=0.0)
        with LiveFeed(on_air) as feed:
            started = time.monotonic()
            stream = _call(self.node, "POST", "/v1/streams", json={"url": feed.url})
            try:
                alert = self._first_alert(stream["id"])
            finally:
                _call(self.node, "DELETE", f"/v1/streams/{stream['id']}")
        self.report({"step": "live stream", "stream": stream["id"], "url": feed.url,
                     "seconds": time.monotonic() - started, "alert": alert})

    def _first_alert(self, stream_id: str, timeout: float = 90.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        after = 0
        while time.monotonic() < deadline:
            page = _call(self.node, "GET", f"/v1/streams/{stream_id}/events",
                         params={"after": after})
            for event in page["events"]:
                after = max(after, int(event.get("seq", after)))
                if event.get("event") == "alert":
                    return event  # type: ignore[no-any-return]
            time.sleep(0.5)
        raise CordonError(f"the node raised no alert on the live stream within {timeout:.0f} "
                          "s; see the node log")

    # --- 4. a user report and its review --------------------------------------------------
    def report_and_review(self) -> None:
        if "/v1/reports" not in self.node_paths or not self.state.reviewer_token:
            self.skipped("report", "this node has no user report API")
            return
        assert self.upload is not None
        with open(self.upload, "rb") as content:
            filed = _call(self.public, "POST", "/v1/reports", data={
                "reason": "behaviour:attack-depiction", "good_faith": "true",
                "explanation": "This video shows the attack, re-uploaded with a logo.",
                "urls": "https://video.example/watch/demo-reupload"},
                files={"file": ("re-upload.mp4", content, "video/mp4")})
        case_id = filed["case"]
        queue = _call(self.reviewer, "GET", "/v1/queue", params={"kind": "report"})["items"]
        position = next((i for i, item in enumerate(queue) if item["id"] == case_id), None)
        case = _call(self.reviewer, "GET", f"/v1/cases/{case_id}")
        decision = _call(self.reviewer, "POST", f"/v1/cases/{case_id}/decision", json={
            "action": "remove", "labels": ["behaviour:attack-depiction"],
            "note": "Matches the incident footage; removed.", "ground": "terms",
            "hub_feedback": True})
        self.report({"step": "report", "tracking_id": filed["tracking_id"], "case": case_id,
                     "matched": filed.get("matched"), "queue_position": position,
                     "case_status": case.get("status"), "decision": decision})

    # --- the end --------------------------------------------------------------------------
    def conclude_incident(self) -> None:
        if self.incident is None:
            return
        incident_id = self.incident["id"]
        done = _call(self.admin, "PATCH", f"/v1/incidents/{incident_id}", json={
            "status": "concluded", "situation": "The footage is contained; the demo is over."})
        self.report({"step": "conclude", "incident": incident_id, "status": done["status"],
                     "debrief": f"{self.state.hub_url}/v1/incidents/{incident_id}/report"})


@contextmanager
def _story(home: Path, report: Report) -> Iterator[Story]:
    state = DemoHome(home).load()
    with tempfile.TemporaryDirectory(prefix="cordon-demo-play-") as work:
        story = Story(state, Path(work), report)
        try:
            yield story
        finally:
            story.close()


def play(home: Path, report: Report) -> None:
    with _story(home, report) as story:
        story.declare_incident()
        story.upload_variant()
        story.live_stream()
        story.report_and_review()
        story.conclude_incident()
