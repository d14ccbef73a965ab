"""The hub's UI in a real browser: log in, add entries from pasted hashes and an imported
hash-list file (the hub takes no media), search entries, give feedback, withdraw; manage
members and tokens; read the audit log; roles; hostile text rendered inert. Screenshots of
the main pages go to docs/screenshots/."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.browser.conftest import assert_accessible, log_in
from tests.media_factory import write_image
from tests.web_support import HubUi

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.browser
HOSTILE = '<img src=x onerror="window.pwned=1"><script>window.pwned=1</script>'


def _images(folder: Path, count: int) -> list[Path]:
    return [write_image(folder / f"photo-{i}.jpg", seed=i) for i in range(count)]


def _create_bank(page: Page, name: str, description: str = "") -> None:
    page.goto(page.url.split("/ui/")[0] + "/ui/banks")
    page.get_by_label("Name").fill(name)
    page.get_by_label("Description").fill(description)
    page.get_by_role("button", name="Create the bank").click()
    page.wait_for_url(re.compile(rf"/ui/banks/{name}$"))


def test_add_entries_from_signals_search_and_review(
    hub_site: HubUi, new_page: Callable[[], Page], screenshot: Callable[[Page, str], Path],
    tmp_path: Path,
) -> None:
    page = new_page()
    page.goto(f"{hub_site.url}/ui/")
    page.wait_for_url(re.compile(r"/ui/login\?next="))
    assert_accessible(page)
    screenshot(page, "hub-login")
    log_in(page, hub_site.url, "cora")
    _create_bank(page, "tcap-demo", "Attack footage shared by members")
    assert page.locator('input[type="file"][name]').count() == 0  # no media form
    files = _images(tmp_path, 3)
    md5s = [hashlib.md5(f.read_bytes()).hexdigest() for f in files]
    # A hostile line refuses the paste, named inline and inert; the text comes back.
    page.get_by_label("Hashes, one per line").fill("\n".join([md5s[0], HOSTILE]))
    page.get_by_label("Signal type").select_option("md5")
    page.get_by_role("button", name="Contribute the hashes").click()
    problems = page.locator("#problems tbody tr")
    problems.first.wait_for()
    assert problems.count() == 1 and "line 2" in problems.first.inner_text()
    assert HOSTILE in problems.first.inner_text()
    assert page.evaluate("window.pwned") is None
    assert HOSTILE in page.get_by_label("Hashes, one per line").input_value()
    page.get_by_label("Hashes, one per line").fill("\n".join(md5s))
    page.get_by_label("Signal type").select_option("md5")
    page.get_by_label("Content type").select_option("image")
    page.get_by_label("footage of a terrorist attack").check()
    page.get_by_label("Other labels").fill("entity:example-group, tag:demo")
    page.get_by_role("button", name="Contribute the hashes").click()
    results = page.locator("#results tbody tr")
    results.first.wait_for()
    assert results.count() == 3
    for row in range(3):
        assert "entry #" in results.nth(row).inner_text()
    assert_accessible(page)
    screenshot(page, "hub-bank-from-signals")
    # A hash-list file, read by the browser into the form and posted as text.
    listing = tmp_path / "list.txt"
    listing.write_text("# signal_type hash\n" + "".join(
        f"sha256 {hashlib.sha256(f.read_bytes()).hexdigest()}\n" for f in files)
        + "sha256 not-a-hash\n")
    page.goto(f"{hub_site.url}/ui/banks/tcap-demo")
    page.get_by_label("Hash-list file").set_input_files(str(listing))
    page.wait_for_function("document.getElementById('hashlist').value.includes('sha256')")
    page.get_by_role("button", name="Import the list").click()
    summary = page.locator("#import-summary")
    summary.wait_for()
    assert re.search(r"Created\s+3", summary.inner_text())
    assert re.search(r"Skipped\s+1", summary.inner_text())
    assert "line 5" in page.locator("#problems").inner_text()
    assert_accessible(page)
    screenshot(page, "hub-bank-import")
    # The MD5 of a file finds its entry.
    md5 = md5s[1]
    page.goto(f"{hub_site.url}/ui/entries")
    page.get_by_label("Hash (any signal type)").fill(md5)
    page.get_by_role("button", name="Search").click()
    rows = page.locator("table tbody tr")
    assert rows.count() == 1
    page.get_by_label("Hash (any signal type)").fill("")
    page.get_by_label("Label").fill("behaviour:attack-depiction")
    page.get_by_role("button", name="Search").click()
    assert page.locator("table tbody tr").count() == 3
    page.get_by_label("Label").fill("")
    page.get_by_label("Contributor").fill("bob")
    page.get_by_role("button", name="Search").click()
    assert "No entries." in page.inner_text("main")
    assert_accessible(page)
    screenshot(page, "hub-entries-search")
    # Another member confirms an entry; its contributor withdraws it.
    page.goto(f"{hub_site.url}/ui/entries?hash={md5}")
    page.locator("table tbody tr a").first.click()
    entry_url = page.url
    ada = new_page()
    log_in(ada, hub_site.url, "ada")
    ada.goto(entry_url)
    ada.get_by_label("Confirm: it is terrorist").check()
    ada.get_by_label("Note").fill("seen on our platform")
    ada.get_by_role("button", name="Send the feedback").click()
    assert "Your feedback is recorded." in ada.inner_text("main")
    assert "1 confirmed" in ada.inner_text("main")
    assert "seen on our platform" in ada.inner_text("main")
    assert_accessible(ada)
    screenshot(ada, "hub-entry")
    page.goto(entry_url)
    page.get_by_role("button", name="Withdraw the entry").click()
    assert "is withdrawn" in page.inner_text("main")
    assert page.get_by_role("button", name="Withdraw the entry").count() == 0
    ada.goto(f"{hub_site.url}/ui/")
    assert "tcap-demo" in ada.inner_text("main")
    assert ada.locator("svg.chart").count() >= 4
    assert_accessible(ada)
    screenshot(ada, "hub-dashboard")
    ada.goto(f"{hub_site.url}/ui/banks/tcap-demo")
    assert_accessible(ada)
    ada.goto(f"{hub_site.url}/ui/banks")
    assert_accessible(ada)


def test_members_tokens_and_the_audit_log(
    hub_site: HubUi, hub_page: Callable[[str], Page], screenshot: Callable[[Page, str], Path],
) -> None:
    page = hub_page("ada")
    page.get_by_role("link", name="Members").click()
    page.get_by_label("Name", exact=True).fill("newco")
    page.get_by_label("Role").select_option("reader")
    page.get_by_role("button", name="Add the member and issue its first token").click()
    token = page.locator("#new-token").inner_text().strip()
    assert token.startswith("cdh_")
    with httpx.Client(base_url=hub_site.url, headers={"Authorization": f"Bearer {token}"}) as api:
        assert api.get("/v1/banks").status_code == 200
        page.goto(f"{hub_site.url}/ui/members")
        row = page.locator("tr", has_text="newco")
        assert "reader" in row.inner_text()
        assert_accessible(page)
        screenshot(page, "hub-members")
        row.get_by_role("button", name=re.compile("Revoke token")).click()
        assert "is revoked" in page.inner_text("main")
        assert api.get("/v1/banks").status_code == 401
    page.get_by_role("button", name="Issue a token to newco").click()
    assert page.locator("#new-token").inner_text().startswith("cdh_")
    # A new user of the UI, acting as the new member.
    page.goto(f"{hub_site.url}/ui/members")
    page.get_by_label("User name").fill("nina")
    page.get_by_label("Acts as member").select_option("newco")
    page.get_by_label("Password (at least 8 characters)").fill("nina's long password")
    page.get_by_role("button", name="Add the user").click()
    assert "User nina can log in now" in page.inner_text("main")
    page.get_by_role("link", name="Audit log").click()
    text = page.inner_text("main")
    for action in ("member.add", "token.revoke", "token.issue", "ui-user.add", "ui.login"):
        assert action in text, action
    page.get_by_label("Action").fill("token.revoke")
    page.get_by_role("button", name="Filter").click()
    rows = page.locator("table tbody tr")
    assert rows.count() == 1 and "admin" in rows.first.inner_text()
    assert_accessible(page)
    screenshot(page, "hub-audit")


def test_roles_see_their_pages_only(hub_site: HubUi, hub_page: Callable[[str], Page]) -> None:
    reader = hub_page("rita")
    nav = reader.get_by_role("navigation", name="Main").inner_text()
    assert "Members" not in nav and "Audit log" not in nav and "Banks" in nav
    for path in ("/ui/members", "/ui/audit"):
        response = reader.goto(f"{hub_site.url}{path}")
        assert response is not None and response.status == 403
        assert "Not allowed" in reader.inner_text("main")
    reader.goto(f"{hub_site.url}/ui/banks")
    assert reader.get_by_role("button", name="Create the bank").count() == 0
    # Keyboard: the first Tab reaches the skip link, which moves focus to the content.
    reader.keyboard.press("Tab")
    assert reader.evaluate("document.activeElement.textContent") == "Skip to content"
    reader.keyboard.press("Enter")
    assert reader.evaluate("document.activeElement.id") == "main"


def test_hostile_text_stays_text(
    hub_site: HubUi, new_page: Callable[[], Page], tmp_path: Path,
) -> None:
    page = new_page()
    log_in(page, hub_site.url, "cora")
    _create_bank(page, "hostile", HOSTILE)
    md5 = hashlib.md5(write_image(tmp_path / "a.jpg", seed=7).read_bytes()).hexdigest()
    page.get_by_label("Hashes, one per line").fill(md5)
    page.get_by_label("Signal type").select_option("md5")
    page.get_by_label("Other labels").fill(f"tag:{HOSTILE}")
    page.get_by_label("Note").fill(HOSTILE)
    page.get_by_role("button", name="Contribute the hashes").click()
    page.locator("#results a").first.click()
    page.get_by_label("The content is right, a label is wrong").check()
    page.get_by_label("Note").fill(HOSTILE)
    page.get_by_role("button", name="Send the feedback").click()
    entry_url = page.url
    for url in (f"{hub_site.url}/ui/banks/hostile", entry_url, f"{hub_site.url}/ui/",
                f"{hub_site.url}/ui/entries?label=tag:{HOSTILE}"):
        page.goto(url)
        assert page.evaluate("window.pwned") is None, url
        assert page.locator("main img, main script").count() == 0, url
    page.goto(entry_url)
    assert HOSTILE in page.inner_text("main")
