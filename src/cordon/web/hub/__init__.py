"""The hub's pages: dashboard, banks and entries, members and tokens, audit log."""

from __future__ import annotations

from fastapi import FastAPI

from cordon.hub.errors import HubError
from cordon.hub.service import Hub
from cordon.web.hub import audit, banks, dashboard, entries, incidents, members
from cordon.web.hub.realm import HubRealm
from cordon.web.hub.stats_cache import StatsCache
from cordon.web.mount import WebUi, add_pages, html_errors_for, mount_ui
from cordon.web.settings import WebSettings


def mount_hub_ui(app: FastAPI, hub: Hub, settings: WebSettings | None = None) -> WebUi:
    """The hub's UI at /ui; call after the API's error handlers are registered."""
    ui = mount_ui(app, HubRealm(hub), hub.store, settings)
    app.state.hub_stats = StatsCache(hub)
    for module in (dashboard, banks, entries, incidents, members, audit):
        add_pages(app, module.router, *module.NAV)
    html_errors_for(app, HubError, lambda exc: exc.status)
    return ui
