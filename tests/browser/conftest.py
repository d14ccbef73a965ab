"""Browser tests: Playwright driving Debian's chromium headless against real servers over
HTTP. Fixtures other browser tests reuse:

- `browser`: the shared headless chromium;
- `hub_site`: a running hub with members and UI users (see `tests.web_support.HUB_USERS`);
- `hub_page(user)`: a new page logged in to `hub_site` as `user`;
- `node_site`: a running node following `hub_site` (as member bob), whose UI users are
  named after their role (`node_site.user("reviewer")` creates one);
- `node_page(role)`: a new page logged in to `node_site` with that node role;
- `new_page()`: a new page in a fresh browser context, not logged in;
- `screenshot(page, name)`: writes docs/screenshots/<name>.png for the docs;
- `assert_accessible(page)`: the basic accessibility rules of docs/ui.md hold on the page.

Chromium comes from scripts/ensure-test-tools (run by scripts/test); the tests skip, saying
why, only when it cannot be installed.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.test_hub_support import serve
from tests.web_support import PASSWORD, HubUi, NodeUi, add_hub_users, serve_node_ui

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "docs" / "screenshots"
CHROMIUM = Path(os.environ.get("CORDON_CHROMIUM", "/usr/bin/chromium"))
VIEWPORT = {"width": 1280, "height": 800}


def _chromium() -> Path:
    if not CHROMIUM.exists():
        # The README's test command installs it; a bare pytest run gets one try here.
        subprocess.run([str(ROOT / "scripts" / "ensure-test-tools")], check=False,
                       capture_output=True, timeout=900)
    if not CHROMIUM.exists():
        pytest.skip(f"browser tests need chromium at {CHROMIUM}, and scripts/ensure-test-tools "
                    "could not install it (needs root and apt-get); set CORDON_CHROMIUM to "
                    "another chromium")
    return CHROMIUM


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    executable = _chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("browser tests need the playwright package: scripts/bootstrap dev")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(executable), headless=True)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture()
def new_page(browser: Browser) -> Iterator[Callable[[], Page]]:
    """Pages in fresh browser contexts (own cookies), closed after the test. Confirmation
    dialogs (`data-confirm` buttons) are accepted."""
    contexts = []

    def make() -> Page:
        context = browser.new_context(viewport=VIEWPORT)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.on("dialog", lambda dialog: dialog.accept())
        return page

    yield make
    for context in contexts:
        context.close()


def log_in(page: Page, url: str, user: str, password: str = PASSWORD) -> None:
    """Log in through the login form and wait for the dashboard."""
    page.goto(f"{url}/ui/login")
    page.get_by_label("User name", exact=True).fill(user)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Log in", exact=True).click()
    page.wait_for_url(f"{url}/ui/")


@pytest.fixture()
def hub_site(tmp_path: Path) -> Iterator[HubUi]:
    """A hub on SQLite with members admin, alice, bob (contributors), carol (reader) and UI
    users ada (admin), cora (alice) and rita (carol)."""
    for running in serve(f"sqlite:///{tmp_path / 'hub.db'}"):
        running.add_member("admin", "admin")
        running.add_member("alice", "contributor")
        running.add_member("bob", "contributor")
        running.add_member("carol", "reader")
        add_hub_users(running)
        yield HubUi(running)


@pytest.fixture()
def hub_page(hub_site: HubUi, new_page: Callable[[], Page]) -> Callable[[str], Page]:
    """`hub_page("cora")`: a page logged in to `hub_site` as that user."""

    def make(user: str) -> Page:
        page = new_page()
        log_in(page, hub_site.url, user)
        return page

    return make


@pytest.fixture()
def node_site(hub_site: HubUi, tmp_path: Path) -> Iterator[NodeUi]:
    """A node on SQLite following `hub_site` with member bob's token."""
    yield from serve_node_ui(f"sqlite:///{tmp_path / 'node.db'}", hub_site.hub)


@pytest.fixture()
def node_page(node_site: NodeUi, new_page: Callable[[], Page]) -> Callable[[str], Page]:
    """`node_page("reviewer")`: a page logged in to `node_site` with that node role."""

    def make(role: str) -> Page:
        page = new_page()
        log_in(page, node_site.url, node_site.user(role))
        return page

    return make


@pytest.fixture()
def screenshot() -> Callable[[Page, str], Path]:
    def take(page: Page, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


_ACCESSIBILITY = """() => {
  const problems = [];
  const named = (el) => (el.labels && el.labels.length) || el.getAttribute("aria-label")
      || el.getAttribute("aria-labelledby") || el.getAttribute("title");
  for (const el of document.querySelectorAll("input, select, textarea")) {
    if (el.type === "hidden") continue;
    if (!named(el)) problems.push(`unlabelled ${el.tagName.toLowerCase()} ${el.name}`);
  }
  for (const el of document.querySelectorAll("button, a[href]")) {
    if (!(el.innerText.trim() || el.getAttribute("aria-label"))) {
      problems.push(`unnamed ${el.tagName}`);
    }
  }
  for (const el of document.querySelectorAll("img:not([alt])")) problems.push("img without alt");
  if (document.querySelectorAll("h1").length !== 1) problems.push("not exactly one h1");
  if (!document.querySelector("main")) problems.push("no main landmark");
  if (!document.documentElement.lang) problems.push("no lang on html");
  if (!document.title.trim()) problems.push("no title");
  const ids = [...document.querySelectorAll("[id]")].map((el) => el.id);
  for (const id of new Set(ids)) {
    if (ids.filter((x) => x === id).length > 1) problems.push(`duplicate id ${id}`);
  }
  return problems;
}"""


def assert_accessible(page: Page) -> None:
    """Labels on every field, names on every button and link, one h1, a main landmark, a
    language and a title, unique ids (what can be checked without a screen reader)."""
    problems = page.evaluate(_ACCESSIBILITY)
    assert not problems, f"{page.url}: {problems}"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).parent == Path(__file__).parent:
            item.add_marker(pytest.mark.browser)
