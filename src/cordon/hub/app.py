"""The hub application: routers, error shapes, middleware and lifecycle."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from cordon import __version__
from cordon.http_errors import add_common_error_handlers
from cordon.hub.denials import audit_refusal
from cordon.hub.deps import RateLimited
from cordon.hub.errors import HubError, Unauthorized, Unprocessable
from cordon.hub.fanout import Fanout
from cordon.hub.metrics import HubMetrics, MetricsMiddleware
from cordon.hub.middleware import GuardBody
from cordon.hub.notify import ChangeNotifier, PgListener
from cordon.hub.priority import PriorityBroadcast, wire_priority
from cordon.hub.routes import admin, banks, entries, feed, health, incidents
from cordon.hub.service import Hub
from cordon.hub.settings import HubSettings
from cordon.ratelimit import RateLimiter
from cordon.store import Store
from cordon.web.hub import mount_hub_ui

log = logging.getLogger("cordon.hub")


def create_app(settings: HubSettings | None = None, store: Store | None = None) -> FastAPI:
    settings = settings or HubSettings()
    store = store or Store(settings.database_url)
    notifier = ChangeNotifier()
    hub = Hub(store, dispute_threshold=settings.dispute_threshold, notifier=notifier)
    metrics = HubMetrics()
    priority = PriorityBroadcast()
    wire_priority(hub, priority)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        notifier.bind(asyncio.get_running_loop())
        priority.bind(asyncio.get_running_loop())
        listener = None
        if settings.listen and store.dialect == "postgresql":
            listener = PgListener(store.url, notifier)
            listener.start()
        try:
            yield
        finally:
            if listener is not None:
                listener.stop()

    app = FastAPI(
        title="Cordon hub",
        version=__version__,
        description="The shared database of signals (hashes) and labels of terrorist and "
                    "violent-extremist content. It never receives content.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.hub = hub
    app.state.limiter = RateLimiter(settings.rate_limit, settings.rate_burst)
    app.state.metrics = metrics
    app.state.fanout = Fanout(hub.shared_page)
    app.state.priority = priority
    for router in (banks.router, entries.router, feed.router, admin.router, health.router,
                   incidents.router):
        app.include_router(router)

    @app.exception_handler(HubError)
    async def hub_error(request: Request, exc: HubError) -> JSONResponse:
        await audit_refusal(request, exc)
        headers = {}
        if isinstance(exc, Unauthorized):
            headers["WWW-Authenticate"] = "Bearer"
        if isinstance(exc, RateLimited):
            headers["Retry-After"] = exc.retry_after
        detail: object = exc.errors if isinstance(exc, Unprocessable) else str(exc)
        return JSONResponse({"detail": detail}, status_code=exc.status, headers=headers)

    add_common_error_handlers(app)
    # After the API's error handlers: the UI answers their errors with pages under /ui.
    mount_hub_ui(app, hub)

    app.add_middleware(GuardBody, limit=settings.max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    return app
