"""The hub's incidents console in a real browser: an admin declares an incident through the
form (its hostile title stays inert text), sees it in the list and on its timeline, posts a
situation update, watches the live counters move when a member contributes hashes through the
hub API, concludes it and reads the debrief; a reader is refused the declare form's URL."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from cordon.hub.labels import incident_label
from tests.browser.conftest import assert_accessible
from tests.test_hub_support import MD5_A, PDQ_A, PDQ_B, make_bank
from tests.web_support import HubUi

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.browser
HOSTILE = '<img src=x onerror="alert(1)"><script>alert(2)</script>'
TITLE = f"Live-streamed attack {HOSTILE}"
# The incident page reloads itself every 10 s while the incident is open.
REFRESH_WAIT_MS = 25_000


def _figure(page: Page, name: str) -> str:
    """The value shown next to a counter's name (`<dt>name</dt><dd>value</dd>`)."""
    return page.locator("dl.figures div").filter(
        has=page.locator("dt", has_text=name)).locator("dd").inner_text().strip()


def _timeline(page: Page) -> list[str]:
    """The `What` column of the timeline, in order."""
    rows = page.locator("table").last.locator("tbody tr")
    return [rows.nth(i).locator("td").nth(1).inner_text().strip() for i in range(rows.count())]


def test_declare_follow_and_conclude_an_incident_in_a_browser(
    hub_site: HubUi, hub_page: Callable[[str], Page], screenshot: Callable[[Page, str], Path],
) -> None:
    make_bank(hub_site.hub, "admin", "crisis", ["*"])
    dialogs: list[tuple[str, str]] = []

    page = hub_page("ada")
    # Only the conclude button's own confirmation may open a dialog; a script in the title
    # would open an alert.
    page.on("dialog", lambda dialog: dialogs.append((dialog.type, dialog.message)))
    page.get_by_role("link", name="Incidents", exact=True).click()
    page.wait_for_url(f"{hub_site.url}/ui/incidents")
    assert "No incident yet." in page.inner_text("main")
    assert_accessible(page)

    page.get_by_label("Level", exact=True).select_option("pci")
    page.get_by_label("Title", exact=True).fill(TITLE)
    page.get_by_label("Bank that receives its hashes").select_option("crisis")
    page.get_by_label("Location", exact=True).fill("Example City")
    page.get_by_label("Time of the attack").fill("2026-11-21T03:00:00+00:00")
    page.get_by_label("Criteria met (one per line)").fill("perpetrator-produced\nlive-streamed")
    page.get_by_label("Description", exact=True).fill(HOSTILE)
    page.get_by_role("button", name="Declare", exact=True).click()
    page.wait_for_url(re.compile(rf"{re.escape(hub_site.url)}/ui/incidents/\d+$"))
    incident = int(page.url.rsplit("/", 1)[1])
    main = page.inner_text("main")
    assert f"Declared incident {incident}." in main
    # The hostile text is shown as the characters typed: no element was made of it.
    assert page.get_by_role("heading", level=1).inner_text() == f"Incident {incident}: {TITLE}"
    assert HOSTILE in main
    assert page.locator("main img, main script").count() == 0
    assert f"open · level pci · label {incident_label(incident)} · bank crisis" in main
    assert _timeline(page) == ["declare"]
    assert (_figure(page, "Hashes shared"), _figure(page, "Distinct items")) == ("0", "0")
    assert _figure(page, "Declaration to first hash") == "n/a"
    assert_accessible(page)

    # The list shows it, its title as text too.
    page.get_by_role("link", name="Incidents", exact=True).click()
    page.wait_for_url(f"{hub_site.url}/ui/incidents")
    row = page.locator("tbody tr").filter(
        has=page.get_by_role("link", name=incident_label(incident), exact=True))
    assert row.locator("td").nth(1).inner_text() == "open"
    assert row.locator("td").nth(2).inner_text() == "pci"
    assert row.locator("td").nth(5).inner_text() == TITLE
    row.get_by_role("link", name=incident_label(incident), exact=True).click()
    page.wait_for_url(f"{hub_site.url}/ui/incidents/{incident}")

    page.get_by_label("Situation", exact=True).fill(f"Copies on three platforms {HOSTILE}")
    page.get_by_role("button", name="Update", exact=True).click()
    page.get_by_text(f"Incident {incident} updated.").wait_for()
    assert f"Situation: Copies on three platforms {HOSTILE}" in page.inner_text("main")
    assert _timeline(page) == ["declare", "update"]

    # A member shares the incident's hashes through the API; the open page's own refresh
    # brings the new counters and the timeline's hash batch, with no reload from the test.
    with hub_site.hub.client("alice") as alice:
        answer = alice.post("/v1/banks/crisis/entries", json={"entries": [
            {"signals": {"pdq": PDQ_A, "md5": MD5_A}, "labels": ["entity:example-group"],
             "content_type": "video", "incident": incident},
            {"signals": {"pdq": PDQ_B}, "labels": ["entity:example-group"],
             "content_type": "image", "incident": incident},
        ]})
        assert answer.status_code in (200, 201), answer.text
    page.wait_for_function(
        "() => [...document.querySelectorAll('dl.figures dt')].some("
        "dt => dt.textContent === 'Hashes shared' && dt.nextElementSibling.textContent === '3')",
        timeout=REFRESH_WAIT_MS)
    assert _figure(page, "Distinct items") == "2"
    assert _figure(page, "Declaration to first hash").endswith(" s")
    assert _timeline(page) == ["declare", "update", "hashes"]
    batch = page.locator("table").last.locator("tbody tr").nth(2).inner_text()
    assert "alice" in batch and "entries: 2" in batch and "signals: 3" in batch
    assert_accessible(page)
    screenshot(page, "hub-incident")

    page.get_by_role("button", name="Conclude", exact=True).click()
    page.get_by_text(f"Incident {incident}: concluded.").wait_for()
    main = page.inner_text("main")
    assert "concluded · level pci" in main
    assert "counters refresh" not in main
    assert page.get_by_role("button", name="Conclude").count() == 0
    assert page.get_by_role("button", name="Update").count() == 0
    assert _timeline(page) == ["declare", "update", "hashes", "conclude"]

    page.get_by_role("link", name="Debrief", exact=True).click()
    page.wait_for_url(f"{hub_site.url}/ui/incidents/{incident}/debrief")
    assert page.get_by_role("heading", level=1).inner_text() == \
        f"Debrief: incident {incident}, {TITLE}"
    assert page.locator("main img, main script").count() == 0
    main = page.inner_text("main")
    assert main.count("concluded") >= 2 and "not yet" not in main
    assert "h after the declaration" in main
    assert (_figure(page, "Hashes shared"), _figure(page, "Distinct items"),
            _figure(page, "Members acknowledging")) == ("3", "2", "0")
    chart = page.locator("svg.chart")
    assert chart.locator("title").text_content() == "Hashes per hour since the declaration"
    assert chart.locator("desc").text_content() == "hour 0: 3"
    assert chart.locator("polyline, circle").count() >= 1
    contributors = page.locator("table").nth(1).locator("tbody tr")
    assert [contributors.nth(i).inner_text().split("\t") for i in range(contributors.count())] \
        == [["alice", "2"]]
    assert_accessible(page)
    screenshot(page, "hub-incident-debrief")

    assert dialogs == [("confirm", f"Conclude incident {incident}? It takes no more hashes.")]


def test_a_reader_may_not_declare(hub_site: HubUi, hub_page: Callable[[str], Page]) -> None:
    make_bank(hub_site.hub, "admin", "crisis", ["*"])
    page = hub_page("rita")
    alerts: list[str] = []
    page.on("dialog", lambda dialog: alerts.append(dialog.message))
    page.goto(f"{hub_site.url}/ui/incidents")
    assert page.get_by_role("button", name="Declare").count() == 0
    assert "Declare an incident" not in page.inner_text("main")
    # The session's own CSRF token (from the log-out form): only the role stops it.
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    assert token
    refused = page.request.post(f"{hub_site.url}/ui/incidents", form={
        "csrf_token": token, "level": "pci", "title": "Reader's incident", "bank": "crisis"},
        max_redirects=0)
    assert refused.status == 403
    page.reload()
    assert "Reader's incident" not in page.inner_text("main")
    assert "No incident yet." in page.inner_text("main")
    assert alerts == []
