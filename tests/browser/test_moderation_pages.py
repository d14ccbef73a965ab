"""Moderation pages in a real browser: a user reports through the form, a reviewer sees the
case blurred, reveals and decides, the affected user reads the statement and appeals. No
script in the reported text runs, and the pages pass the basic accessibility checks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.browser.conftest import assert_accessible
from tests.test_moderation_support import ModerationNode, photo, serve_moderation

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.browser
HOSTILE = '<img src=x onerror="alert(1)"><script>alert(2)</script>'


@pytest.fixture()
def mod(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModerationNode]:
    yield from serve_moderation(f"sqlite:///{tmp_path / 'node.db'}", tmp_path / "moderation",
                                monkeypatch)


def test_report_review_and_appeal_in_a_browser(
    mod: ModerationNode, new_page: Callable[[], Page], tmp_path: Path,
    screenshot: Callable[[Page, str], Path],
) -> None:
    alerts: list[str] = []
    upload = tmp_path / "post.jpg"
    upload.write_bytes(photo(60))

    reporter = new_page()
    reporter.on("dialog", lambda dialog: alerts.append(dialog.message))
    reporter.goto(f"{mod.running.url}/ui/report")
    assert_accessible(reporter)
    reporter.get_by_label("Or upload the image or video").set_input_files(str(upload))
    reporter.get_by_label("What is wrong with it").select_option("behaviour:glorification")
    reporter.get_by_label("Explain why").fill(HOSTILE)
    reporter.get_by_label("Your name (optional)").fill(HOSTILE)
    reporter.get_by_label("I confirm in good faith").check()
    screenshot(reporter, "moderation-report-form")
    reporter.get_by_role("button", name="Send the report").click()
    reporter.wait_for_selector("text=your report was received")
    assert "R-" in reporter.inner_text("main")

    reviewer = new_page()
    reviewer.on("dialog", lambda dialog: alerts.append(dialog.message))
    reviewer.goto(f"{mod.running.url}/ui/login")
    reviewer.get_by_label("Cordon node token").fill(mod.tokens["alice"])
    reviewer.get_by_role("button", name="Log in with the token").click()
    reviewer.wait_for_url(f"{mod.running.url}/ui/")
    reviewer.get_by_role("link", name="Review queue").click()
    assert_accessible(reviewer)
    reviewer.locator("a[href^='/ui/cases/']").first.click()
    # Locator.wait_for waits for the element to be visible (after the navigation).
    reviewer.get_by_alt_text("The reported content, blurred and in greyscale").wait_for()
    assert HOSTILE in reviewer.inner_text("main")  # shown as text, not markup
    assert_accessible(reviewer)
    screenshot(reviewer, "moderation-case")
    reviewer.get_by_role("link", name="Reveal it").click()
    reviewer.get_by_alt_text("The reported content, as it is").wait_for()
    reviewer.get_by_label("Decision").select_option("remove")
    reviewer.get_by_label("Ground").select_option("law")
    reviewer.get_by_label("Affected account").fill("user-1")
    reviewer.get_by_role("button", name="Record the decision").click()
    reviewer.wait_for_selector("text=Notice code")
    code = reviewer.locator(".secret code").inner_text().strip()
    assert code.startswith("N-")

    user = new_page()
    user.on("dialog", lambda dialog: alerts.append(dialog.message))
    user.goto(f"{mod.running.url}/ui/appeal")
    user.get_by_label("The notice code you received").fill(code)
    user.get_by_role("button", name="Show the decision").click()
    user.wait_for_selector("text=Statement of reasons")
    assert_accessible(user)
    user.get_by_label("Why is the decision wrong?").fill("This documents a war crime.")
    screenshot(user, "moderation-appeal")
    user.get_by_role("button", name="File the appeal").click()
    user.wait_for_selector("text=Your appeal was filed")
    assert alerts == []
