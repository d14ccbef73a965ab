"""`cordon watch --node URL --token T`: the streams are watched by a node (`/v1/streams`);
this command starts them there, prints their events as they come, and stops them when it is
interrupted. Alerts then also go through the node's rules, match log and webhooks."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import click
import httpx

from cordon.cli.output import print_json, warn
from cordon.errors import CordonError

_POLL = 0.5
_FINISHED = ("ended", "error", "stopped")


class _NodeStreams:
    def __init__(self, node_url: str, token: str) -> None:
        self._http = httpx.Client(base_url=node_url.rstrip("/"), timeout=30,
                                  headers={"Authorization": f"Bearer {token}"})

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise CordonError(f"cannot reach the node ({exc.__class__.__name__}: {exc})"
                              ) from None
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail")
            except ValueError:
                detail = response.text[:200]
            if isinstance(detail, list) and detail:
                detail = detail[0].get("msg", detail[0])
            raise CordonError(f"the node answered {response.status_code}: {detail}")
        return response.json() if response.content else None

    def start(self, url: str, labels: Sequence[str]) -> str:
        return str(self._call("POST", "/v1/streams", json={"url": url,
                                                           "labels": list(labels)})["id"])

    def events(self, stream_id: str, after: int) -> dict[str, Any]:
        return self._call("GET", f"/v1/streams/{stream_id}/events",  # type: ignore[no-any-return]
                          params={"after": after, "limit": 1000})

    def state(self, stream_id: str) -> str:
        return str(self._call("GET", f"/v1/streams/{stream_id}")["state"])

    def stop(self, stream_id: str) -> None:
        try:
            self._call("DELETE", f"/v1/streams/{stream_id}")
        except CordonError as exc:
            warn(f"stream {stream_id} not stopped: {exc}")

    def close(self) -> None:
        self._http.close()


def _text(item: dict[str, Any]) -> str:
    stamp = (item.get("detected_at") or item.get("at") or "")[11:19]
    head = f"{stamp}  {item['event'].upper():<12} {item['stream']}  " \
           f"at {item['stream_seconds']:.1f}s"
    if "entry" not in item:
        return f"{head}  {item.get('message', '')}"
    where = f"{item['bank']}/{item['entry']}"
    labels = ",".join(item["labels"]) or "-"
    ref = "" if item.get("ref_seconds") is None else f"  ref {item['ref_seconds']:.1f}s"
    actions = ",".join(a["action"] for a in item.get("actions") or []) or "-"
    return (f"{head}  {where}  {item['signal_type']} distance={item['distance']}  "
            f"labels={labels}{ref}  actions={actions}  "
            f"({item['seen_seconds']:.0f} s of {where} so far)")


def watch_on_node(node_url: str, token: str, urls: Sequence[str], labels: Sequence[str],
                  output_format: str, stop: threading.Event) -> bool:
    """Follow the streams on the node until they finish or `stop` is set; True when one of
    them ended in error."""
    node = _NodeStreams(node_url, token)
    started: list[tuple[str, str]] = []
    try:
        for url in urls:
            started.append((node.start(url, labels), url))
    except CordonError:
        for stream_id, _ in started:
            node.stop(stream_id)
        node.close()
        raise
    if output_format == "text":
        warn(f"watching {len(started)} stream(s) on {node_url} "
             f"({', '.join(stream_id for stream_id, _ in started)})")
    cursors = {stream_id: 0 for stream_id, _ in started}
    failed = False
    try:
        while cursors and not stop.is_set():
            for stream_id in list(cursors):
                page = node.events(stream_id, cursors[stream_id])
                for item in page["events"]:
                    cursors[stream_id] = item.pop("seq")
                    failed = failed or item["event"] == "error"
                    if output_format == "json":
                        print_json(item)
                    else:
                        click.echo(_text(item))
                if not page["events"] and node.state(stream_id) in _FINISHED:
                    # Finished and every event read: nothing more will come.
                    if node.events(stream_id, cursors[stream_id])["events"]:
                        continue
                    node.stop(stream_id)
                    del cursors[stream_id]
            stop.wait(_POLL)
    except KeyboardInterrupt:
        stop.set()
    finally:
        for stream_id in cursors:
            node.stop(stream_id)
        node.close()
    if stop.is_set() and output_format == "text":
        warn("stopped")
    return failed
