"""Rendering pages: one Jinja2 environment with autoescaping on for every template, and
`render()`, which gives each template the common context (user, CSRF token, navigation,
flash message) and the security headers of every page."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, PackageLoader, StrictUndefined, pass_context
from markupsafe import Markup, escape

from cordon.web import charts

FLASH_COOKIE = "cordon_flash"
FLASH_MAX = 300

# The UI needs nothing from elsewhere: no inline scripts, no third-party anything.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def _encode_flash(text: str) -> str:
    """The flash as a cookie value: URL-safe base64 of its UTF-8, because a header carries
    only latin-1 and any message may quote user text in any script."""
    return base64.urlsafe_b64encode(text[:FLASH_MAX].encode("utf-8")).decode("ascii")


def _decode_flash(value: str | None) -> str | None:
    """The flash text back from its cookie; a cookie that was not written by `redirect()`
    (tampered, truncated, from an older version) shows nothing rather than failing the page."""
    if not value:
        return None
    try:
        text = base64.urlsafe_b64decode(value.encode("ascii")).decode("utf-8")
    except (UnicodeError, binascii.Error, ValueError):
        return None
    return text[:FLASH_MAX] or None


def _when(value: Any) -> str:
    """A timestamp as people read it, in UTC to the second."""
    if value is None:
        return ""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    return str(value.strftime("%Y-%m-%d %H:%M:%S UTC"))


def _number(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value)


@pass_context
def _csrf_field(context: Any) -> Markup:
    """The hidden CSRF field every state-changing form carries: `{{ csrf_field() }}`."""
    return Markup('<input type="hidden" name="csrf_token" value="{}">').format(
        escape(context.get("csrf_token", "")))


def make_environment() -> Environment:
    env = Environment(
        loader=PackageLoader("cordon.web", "templates"),
        # On for every template whatever its name: user text never becomes markup.
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    env.filters["number"] = _number
    env.globals["csrf_field"] = _csrf_field
    env.globals["bar_chart"] = charts.bar_chart
    env.globals["time_chart"] = charts.time_chart
    return env


environment = make_environment()


def render(request: Request, template: str, status_code: int = 200,
           **context: Any) -> HTMLResponse:
    """Render `template` with `context` and the common context of every page."""
    ui = request.app.state.ui
    user = getattr(request.state, "web_user", None)
    flash_cookie = request.cookies.get(FLASH_COOKIE)
    flash = _decode_flash(flash_cookie)
    page = environment.get_template(template).render(
        request=request,
        ui=ui,
        user=user,
        csrf_token=user.csrf_token if user is not None else "",
        nav=ui.nav_for(user),
        path=request.url.path,
        flash=flash,
        **context,
    )
    response = HTMLResponse(page, status_code=status_code, headers=SECURITY_HEADERS)
    if flash_cookie:
        response.delete_cookie(FLASH_COOKIE, path="/ui")
    return response


def redirect(url: str, flash: str | None = None) -> RedirectResponse:
    """303 to `url` (after a POST), with a one-time message shown by the next page."""
    response = RedirectResponse(url, status_code=303, headers=SECURITY_HEADERS)
    if flash:
        response.set_cookie(FLASH_COOKIE, _encode_flash(flash), path="/ui", httponly=True,
                            samesite="lax")
    return response
