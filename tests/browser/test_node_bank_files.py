"""Building a node's private bank from corpus files in a real browser, and sharing the
signals to a hub bank: the node hashes the media, the hub receives signals only."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.browser.conftest import assert_accessible
from tests.shared_data import CORPUS, require
from tests.test_hub_support import make_bank
from tests.web_support import HubUi, NodeUi

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.browser


def test_build_a_node_bank_from_corpus_files_and_share_it(
    hub_site: HubUi, node_site: NodeUi, node_page: Callable[[str], Page],
    hub_page: Callable[[str], Page], screenshot: Callable[[Page, str], Path],
) -> None:
    images = sorted(require(CORPUS / "images").glob("*.jpg"))[:3]
    video = require(CORPUS / "videos" / "carphone_distorted.mp4")
    files = [*images, video]
    make_bank(hub_site.hub, "alice", "tcap-demo", ["*"])
    page = node_page("admin")
    page.goto(f"{node_site.url}/ui/banks")
    page.get_by_label("Name").fill("our-takedowns")
    page.get_by_label("Description").fill("Removed by our moderators")
    page.get_by_role("button", name="Create the private bank").click()
    page.wait_for_url(re.compile(r"/ui/banks/our-takedowns$"))
    page.get_by_label("Images or videos").set_input_files([str(f) for f in files])
    page.get_by_label("footage of a terrorist attack").check()
    page.get_by_label("Other labels").fill("tag:demo")
    page.get_by_label("Share the signals to a hub bank").check()
    page.get_by_label("Hub bank", exact=True).fill("tcap-demo")
    page.get_by_role("button", name="Hash and add").click()
    rows = page.locator("#results tbody tr")
    rows.first.wait_for(timeout=120_000)
    assert rows.count() == len(files)
    texts = [rows.nth(i).inner_text() for i in range(len(files))]
    assert all("hub entry #" in t for t in texts), texts
    assert "vpdq" in texts[-1] and "pdq" in texts[0]
    assert_accessible(page)
    screenshot(page, "node-bank-from-files")
    page.goto(f"{node_site.url}/ui/banks")
    assert "our-takedowns" in page.inner_text("main")
    assert_accessible(page)
    # On the hub, each file's MD5 finds the entry bob's node contributed: signals, not files.
    hub = hub_page("cora")
    for path in files:
        hub.goto(f"{hub_site.url}/ui/entries?hash={hashlib.md5(path.read_bytes()).hexdigest()}")
        found = hub.locator("table tbody tr")
        assert found.count() == 1, path
        assert "bob" in found.first.inner_text() and "tcap-demo" in found.first.inner_text()
