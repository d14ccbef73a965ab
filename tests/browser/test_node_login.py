"""The node's UI in a real browser: logging in with a node role and with a node token."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.web_support import NodeUi

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.browser


def test_node_login_by_role_and_by_token(
    node_site: NodeUi, node_page: Callable[[str], Page], new_page: Callable[[], Page],
    screenshot: Callable[[Page, str], Path],
) -> None:
    reviewer = node_page("reviewer")
    assert "reviewer" in reviewer.get_by_role("banner").inner_text()
    reviewer.get_by_role("button", name="Log out").click()
    reviewer.wait_for_url(f"{node_site.url}/ui/login")
    assert "You are logged out." in reviewer.inner_text("main")
    _, token = node_site.node.node.create_token("ops")
    page = new_page()
    page.goto(f"{node_site.url}/ui/login")
    screenshot(page, "node-login")
    page.get_by_label("Cordon node token").fill(token)
    page.get_by_role("button", name="Log in with the token").click()
    page.wait_for_url(f"{node_site.url}/ui/")
    assert "ops" in page.get_by_role("banner").inner_text()
