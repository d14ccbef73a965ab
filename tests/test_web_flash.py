"""The one-time flash message of the UI: any text, in any script, survives the redirect that
carries it (a header holds only latin-1) and is shown escaped by the next page."""

from __future__ import annotations

from http.cookies import SimpleCookie

from cordon.web.templates import FLASH_COOKIE, FLASH_MAX, _decode_flash, redirect
from tests.web_support import NodeUi, node_ui

__all__ = ["node_ui"]
TEXT = 'Ünïcødé — 東京 <b>"bold"</b> & more'


def _flash_cookie(text: str) -> str:
    """The cookie value `redirect()` sets for `text`, read back from its raw header."""
    response = redirect("/ui/rules", text)
    assert response.status_code == 303
    header = dict(response.raw_headers)[b"set-cookie"]
    header.decode("ascii")  # what goes on the wire is plain ASCII
    cookie = SimpleCookie(header.decode("ascii"))[FLASH_COOKIE]
    assert cookie["path"] == "/ui" and cookie["httponly"]
    return cookie.value


def test_a_flash_in_any_script_round_trips_and_renders_escaped(node_ui: NodeUi) -> None:
    with node_ui.client("admin") as client:
        client.cookies.set(FLASH_COOKIE, _flash_cookie(TEXT), path="/ui")
        page = client.get("/ui/rules")
        assert page.status_code == 200
        assert ('<p class="flash" role="status">Ünïcødé — 東京 &lt;b&gt;&#34;bold&#34;'
                '&lt;/b&gt; &amp; more</p>') in page.text
        assert "<b>" not in page.text
        # One time only: the page that showed it clears it.
        cleared = page.headers["set-cookie"]
        assert cleared.startswith(f'{FLASH_COOKIE}=""') and "Max-Age=0" in cleared


def test_a_long_flash_is_cut_to_its_limit_in_characters() -> None:
    assert _decode_flash(_flash_cookie("東" * (FLASH_MAX + 50))) == "東" * FLASH_MAX


def test_a_flash_cookie_not_written_by_the_ui_shows_nothing(node_ui: NodeUi) -> None:
    with node_ui.client("admin") as client:
        for forged in ("not base64!", "%%%", "_w==", "////"):
            client.cookies.set(FLASH_COOKIE, forged, path="/ui")
            page = client.get("/ui/rules")
            assert page.status_code == 200, forged
            assert 'class="flash"' not in page.text, forged
