"""The node's pages in a real browser: the match debugger on an image and an edited video,
hostile files dropped into it, and the dashboard, banks, rules, webhooks and live streams
pages (with screenshots for the docs)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from cordon.demo.variants import video_variant
from cordon.hashing import MatchingSelection, hash_file
from cordon.signals import get_signal_type
from tests.browser.conftest import assert_accessible
from tests.media_factory import scene_frames, write_image, write_video
from tests.web_support import NodeUi

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.browser
HOSTILE = '<img src=x onerror=alert(1)><script>alert(2)</script>'


def _bank(site: NodeUi, path: Path, labels: list[str]) -> None:
    node = site.node.node
    if "local" not in {b["name"] for b in node.private_banks()}:
        node.create_bank("local", "banked by the browser tests")
    result = hash_file(path, MatchingSelection())
    assert result.ok, result.error
    node.add_entries("local", [{"signals": {n: get_signal_type(n).to_json(v)
                                            for n, v in result.signals.items()},
                                "labels": labels}])


@pytest.fixture
def media(tmp_path: Path) -> dict[str, Path]:
    photos = [write_image(tmp_path / f"{s}.png", "PNG", seed=s) for s in range(50, 60)]
    video = write_video(tmp_path / "banked.mp4", scene_frames(10, 8, (320, 240), photos), fps=8)
    return {"photo": photos[0], "video": video,
            "edited": video_variant(video, tmp_path / "edited.mp4", skip_seconds=2.0)}


def _debug(page: Page, url: str, path: Path) -> str:
    page.goto(f"{url}/ui/debugger")
    page.get_by_label("File (image or video)").set_input_files(str(path))
    with page.expect_navigation():
        page.get_by_role("button", name="Match").click()
    return page.inner_text("main")


def test_match_debugger_explains_matches(
    node_site: NodeUi, node_page: Callable[[str], Page], media: dict[str, Path],
    screenshot: Callable[[Page, str], Path],
) -> None:
    _bank(node_site, media["photo"], ["behaviour:glorification"])
    _bank(node_site, media["video"], ["behaviour:attack-depiction"])
    node = node_site.node.node
    node.add_rule("block attack footage", "block", {"labels": ["behaviour:attack-depiction"]})
    node.add_rule("review glorification", "review", {"labels": ["behaviour:glorification"]})
    page = node_page("admin")
    page.get_by_role("navigation").get_by_role("link", name="Match debugger").click()
    page.wait_for_url(f"{node_site.url}/ui/debugger")
    assert_accessible(page)

    text = _debug(page, node_site.url, media["photo"])
    assert "REVIEW by rule “review glorification”" in text
    assert "pdq" in text and "behaviour:glorification" in text

    text = _debug(page, node_site.url, media["edited"])
    assert "BLOCK by rule “block attack footage”" in text
    assert " s = " in text  # aligned segments: seconds of the upload = of the banked video
    assert_accessible(page)
    screenshot(page, "node-debugger")
    assert node.matches() == []  # explained, not recorded


def test_hostile_files_in_the_debugger_give_an_inert_error(
    node_site: NodeUi, node_page: Callable[[str], Page], media: dict[str, Path],
    tmp_path: Path,
) -> None:
    _bank(node_site, media["photo"], [])
    _bank(node_site, media["video"], [])  # videos are decoded when video signals are banked
    page = node_page("admin")
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: dialogs.append(dialog.message))

    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0" + b"\x00garbage" * 300)
    text = _debug(page, node_site.url, corrupt)
    assert page.locator("main p.error").inner_text().startswith("corrupt.jpg: ")

    data = media["video"].read_bytes()
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(data[: len(data) // 3])
    text = _debug(page, node_site.url, truncated)
    assert page.locator("main p.error").inner_text().startswith("truncated.mp4: ")

    scripted = tmp_path / f"{HOSTILE.replace('/', '_')}.html"
    scripted.write_text(f"<html><body>{HOSTILE}</body></html>")
    text = _debug(page, node_site.url, scripted)
    assert HOSTILE.replace("/", "_") in text  # the name, as text
    assert "No banked entry matches this file." in text
    assert page.locator("main img, main script").count() == 0
    assert dialogs == []


def test_node_pages(
    node_site: NodeUi, node_page: Callable[[str], Page], media: dict[str, Path],
    screenshot: Callable[[Page, str], Path],
) -> None:
    _bank(node_site, media["photo"], ["behaviour:attack-depiction"])
    node = node_site.node.node
    node.add_rule("block attack footage", "block", {"labels": ["behaviour:attack-depiction"]})
    node.add_webhook("http://127.0.0.1:9/hook", "s" * 24, ["match"])
    with node_site.node.client() as api:
        api.post("/v1/match", files={"file": ("upload.png", media["photo"].read_bytes(),
                                              "image/png")})
    page = node_page("admin")
    for path, heading, shot in (("/ui/", "Node dashboard", "node-dashboard"),
                                ("/ui/banks", "Banks", "node-banks"),
                                ("/ui/rules", "Rules", "node-rules"),
                                ("/ui/webhooks", "Webhooks", "node-webhooks"),
                                ("/ui/webhooks/1", "Webhook 1", "node-webhook")):
        page.goto(f"{node_site.url}{path}")
        assert page.get_by_role("heading", level=1).inner_text() == heading
        assert_accessible(page)
        screenshot(page, shot)
    page.goto(f"{node_site.url}/ui/rules")
    page.get_by_label("Name").fill("review glorification")
    page.get_by_label("Action").select_option("review")
    page.get_by_label("Labels, any of").fill("behaviour:glorification")
    page.get_by_role("button", name="Add rule").click()
    page.wait_for_url(f"{node_site.url}/ui/rules")
    assert "review glorification" in page.inner_text("main")
    page.get_by_role("row", name="review glorification").get_by_role(
        "button", name="Delete").click()
    page.wait_for_url(f"{node_site.url}/ui/rules")
    assert "review glorification" not in page.inner_text("main")
    if getattr(node_site.node.app.state, "streams", None) is not None:
        page.goto(f"{node_site.url}/ui/streams")
        assert_accessible(page)
        screenshot(page, "node-streams")
