"""The node's pages over real HTTP: the dashboard, the match debugger (with hostile files),
banks, rules, webhooks with their delivery log, live streams, and who may open what."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cordon.demo.variants import video_variant
from cordon.hashing import MatchingSelection, hash_file
from cordon.signals import get_signal_type
from tests.media_factory import image_bytes, scene_frames, write_image, write_video
from tests.web_support import HubUi, NodeUi, csrf_of, hub_ui, node_ui, serve_node_ui

__all__ = ["hub_ui", "node_ui"]
HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def _bank(node_ui: NodeUi, path: Path, labels: list[str]) -> int:
    """Bank the file in the private bank `local` (created on first use); its entry id."""
    node = node_ui.node.node
    if "local" not in {b["name"] for b in node.private_banks()}:
        node.create_bank("local", "files banked by the tests")
    result = hash_file(path, MatchingSelection())
    assert result.ok, result.error
    signals = {n: get_signal_type(n).to_json(v) for n, v in result.signals.items()}
    return node.add_entries("local", [{"signals": signals, "labels": labels}])[0]


def _upload(client: httpx.Client, name: str, data: bytes,
            mime: str = "application/octet-stream") -> httpx.Response:
    page = client.get("/ui/debugger")
    assert page.status_code == 200
    return client.post("/ui/debugger", data={"csrf_token": csrf_of(page.text)},
                       files={"file": (name, data, mime)})


@pytest.fixture
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("video")
    photos = [write_image(folder / f"{s}.png", "PNG", seed=s) for s in range(30, 40)]
    return write_video(folder / "banked.mp4", scene_frames(10, 8, (320, 240), photos), fps=8)


def test_debugger_shows_signals_matches_and_the_rule_that_fires(
        node_ui: NodeUi, tmp_path: Path) -> None:
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(image_bytes(seed=3))
    entry = _bank(node_ui, photo, ["behaviour:glorification"])
    node_ui.node.node.add_rule("review glorification", "review",
                               {"labels": ["behaviour:glorification"]})
    with node_ui.client("admin") as client:
        page = _upload(client, "photo.jpg", photo.read_bytes(), "image/jpeg")
    assert page.status_code == 200
    text = page.text
    assert "Content type</dt><dd>image" in text
    assert re.search(r"<td>pdq</td><td class=\"hash\">[0-9a-f]{64}", text)
    assert f"<td>{entry}" in text and "behaviour:glorification" in text
    assert "REVIEW</strong> by rule “review glorification”" in text
    # The debugger explains; it records nothing and sends nothing.
    assert node_ui.node.node.matches() == []


def test_debugger_aligns_an_edited_video_with_the_banked_one(
        node_ui: NodeUi, video: Path, tmp_path: Path) -> None:
    _bank(node_ui, video, ["behaviour:attack-depiction"])
    edited = video_variant(video, tmp_path / "edited.mp4", skip_seconds=2.0)
    with node_ui.client("admin") as client:
        page = _upload(client, "edited.mp4", edited.read_bytes(), "video/mp4")
    assert page.status_code == 200
    # Seconds of the upload = seconds of the banked video, about 2 s later.
    spans = re.findall(r"(\d+\.\d)–(\d+\.\d) s = (\d+\.\d)–(\d+\.\d) s", page.text)
    assert spans, page.text
    assert any(abs(float(r0) - float(q0) - 2.0) < 1.0 for q0, _, r0, _ in spans)


@pytest.mark.parametrize(("name", "data", "expected"), [
    ("corrupt.jpg", b"\xff\xd8\xff\xe0" + b"\x00garbage" * 200, "corrupt.jpg: "),
    ("empty.png", b"", "choose a file to match"),  # a browser sends no file the same way
])
def test_debugger_refuses_undecodable_images(node_ui: NodeUi, name: str, data: bytes,
                                             expected: str, tmp_path: Path) -> None:
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(image_bytes(seed=4))
    _bank(node_ui, photo, [])
    with node_ui.client("admin") as client:
        page = _upload(client, name, data, "image/jpeg")
    assert page.status_code == 422
    assert 'class="error" role="alert">' + expected in page.text


def test_debugger_refuses_a_truncated_video(node_ui: NodeUi, video: Path) -> None:
    _bank(node_ui, video, [])
    data = video.read_bytes()
    with node_ui.client("admin") as client:
        page = _upload(client, "cut.mp4", data[: len(data) // 3], "video/mp4")
    assert page.status_code == 422
    assert 'class="error" role="alert">cut.mp4: ' in page.text


def test_debugger_keeps_an_html_file_with_script_inert(node_ui: NodeUi, tmp_path: Path) -> None:
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(image_bytes(seed=5))
    _bank(node_ui, photo, [])
    html = f"<html><body>{HOSTILE}</body></html>".encode()
    with node_ui.client("admin") as client:
        page = _upload(client, f"{HOSTILE}.html", html, "text/html")
    assert page.status_code == 200
    assert "<script>alert" not in page.text and "<img src=x" not in page.text
    assert "&lt;script&gt;alert" in page.text  # the name, shown as text
    assert "Content type</dt><dd>other" in page.text
    assert "No banked entry matches this file." in page.text


def test_debugger_refuses_forged_csrf_and_a_missing_file(node_ui: NodeUi) -> None:
    with node_ui.client("admin") as client:
        forged = client.post("/ui/debugger", data={"csrf_token": "forged"},
                             files={"file": ("a.jpg", image_bytes(), "image/jpeg")})
        assert forged.status_code == 403
        page = client.get("/ui/debugger")
        empty = client.post("/ui/debugger", data={"csrf_token": csrf_of(page.text)},
                            files={"file": ("", b"", "application/octet-stream")})
        assert empty.status_code == 422 and "choose a file to match" in empty.text
        plain = client.post("/ui/debugger", data={"csrf_token": csrf_of(page.text)})
        assert plain.status_code == 415


def test_dashboard_counts_matches_and_actions(node_ui: NodeUi, tmp_path: Path) -> None:
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(image_bytes(seed=6))
    _bank(node_ui, photo, ["behaviour:attack-depiction"])
    node_ui.node.node.add_rule("block attacks", "block",
                               {"labels": ["behaviour:attack-depiction"]})
    with node_ui.node.client() as api:
        answer = api.post("/v1/match", files={"file": ("up.jpg", photo.read_bytes(),
                                                       "image/jpeg")})
        assert answer.status_code == 200 and answer.json()["actions"]
    with node_ui.client("reviewer") as client:
        page = client.get("/ui/")
    assert page.status_code == 200
    assert "Matches per hour" in page.text and "<svg" in page.text
    assert re.search(r"<strong>\d+</strong> matches in 24 hours", page.text)
    assert "This node follows no hub" in page.text
    assert "up.jpg" in page.text and ">block</span>" in page.text


def test_dashboard_of_a_node_following_a_hub(hub_ui: HubUi, tmp_path: Path) -> None:
    for site in serve_node_ui(f"sqlite:///{tmp_path / 'node.db'}", hub_ui.hub):
        deadline = time.monotonic() + 20
        follower = site.node.app.state.follower
        while follower.status.mode != "stream" and time.monotonic() < deadline:
            time.sleep(0.1)
        with site.client("admin") as client:
            page = client.get("/ui/")
        assert page.status_code == 200
        assert "<strong>in step</strong> with the hub" in page.text
        assert f"<dt>Hub</dt><dd>{hub_ui.url}</dd>" in page.text


def test_rules_are_listed_created_and_deleted_by_admins_only(node_ui: NodeUi) -> None:
    with node_ui.client("admin") as client:
        page = client.get("/ui/rules")
        token = csrf_of(page.text)
        bad = client.post("/ui/rules", data={"csrf_token": token, "name": "x",
                                             "action": "block", "max_distance": "-3"})
        assert bad.status_code == 422 and "max_distance" in bad.text
        unknown = client.post("/ui/rules", data={"csrf_token": token, "name": "x",
                                                 "action": "explode"})
        assert unknown.status_code == 422
        added = client.post("/ui/rules", data={
            "csrf_token": token, "name": HOSTILE, "action": "alert", "labels": "entity:*",
            "incident": "any", "disputed": "no"})
        assert added.status_code == 303
        listed = client.get("/ui/rules").text
        assert "<script>alert" not in listed and "&lt;script&gt;" in listed
        assert "entries of any incident" in listed and "undisputed entries" in listed
        rule_id = node_ui.node.node.rules()[0].id
    with node_ui.client("reviewer") as client:
        page = client.get("/ui/rules")
        assert page.status_code == 200 and "New rule" not in page.text
        refused = client.post(f"/ui/rules/{rule_id}/delete",
                              data={"csrf_token": csrf_of(page.text)})
        assert refused.status_code == 403
    with node_ui.client("admin") as client:
        page = client.get("/ui/rules")
        done = client.post(f"/ui/rules/{rule_id}/delete",
                           data={"csrf_token": csrf_of(page.text)})
        assert done.status_code == 303 and node_ui.node.node.rules() == []


def test_webhooks_and_their_delivery_log(node_ui: NodeUi, tmp_path: Path) -> None:
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(image_bytes(seed=7))
    _bank(node_ui, photo, [])
    with node_ui.client("admin") as client:
        token = csrf_of(client.get("/ui/webhooks").text)
        short = client.post("/ui/webhooks", data={"csrf_token": token, "events": "match",
                                                  "url": "http://127.0.0.1:9/hook",
                                                  "secret": "short"})
        assert short.status_code == 422 and "secret" in short.text
        scheme = client.post("/ui/webhooks", data={"csrf_token": token, "events": "match",
                                                   "url": "javascript:alert(1)",
                                                   "secret": "s" * 20})
        assert scheme.status_code == 422
        added = client.post("/ui/webhooks", data={"csrf_token": token, "events": "match",
                                                  "url": "http://127.0.0.1:9/hook",
                                                  "secret": "s" * 20})
        assert added.status_code == 303
        with node_ui.node.client() as api:
            api.post("/v1/match", files={"file": ("up.jpg", photo.read_bytes(), "image/jpeg")})
        page = client.get(added.headers["location"])
        assert page.status_code == 200
        assert "http://127.0.0.1:9/hook" in page.text and "<td>match</td>" in page.text
        assert "s" * 20 not in page.text  # the secret is never shown
    with node_ui.client("reviewer") as client:
        assert client.get("/ui/webhooks").status_code == 403


def test_banks_page_lists_private_banks(node_ui: NodeUi, tmp_path: Path) -> None:
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(image_bytes(seed=8))
    _bank(node_ui, photo, ["entity:example-group"])
    with node_ui.client("reviewer") as client:
        page = client.get("/ui/banks")
    assert page.status_code == 200
    assert '<td><a href="/ui/banks/local">local</a>' in page.text and "private" in page.text
    assert "entity:example-group (1)" in page.text and "pdq: 1" in page.text


def test_streams_page(node_ui: NodeUi) -> None:
    watches = getattr(node_ui.node.app.state, "streams", None) is not None
    with node_ui.client("admin") as client:
        page = client.get("/ui/streams")
        assert page.status_code == (200 if watches else 404)
        if watches:
            assert "No stream is watched." in page.text
            assert client.get("/ui/streams/nope").status_code == 404


def test_roles_that_may_not_open_the_debugger(node_ui: NodeUi) -> None:
    with node_ui.client("flagger") as client:
        assert client.get("/ui/debugger").status_code == 403
    with node_ui.client("service") as client:
        assert client.get("/ui/debugger").status_code == 200


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("HTTP_PROXY", raising=False)
    yield
