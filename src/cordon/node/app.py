"""The node application: routers, error shapes, middleware and lifecycle (index loading,
the hub follower and the webhook delivery worker)."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from cordon import __version__
from cordon.http_errors import add_common_error_handlers
from cordon.hub.client import HubClientError
from cordon.hub.metrics import MetricsMiddleware
from cordon.node.deps import Unauthorized
from cordon.node.fast_match import FastMatch
from cordon.node.follower import HubFollower
from cordon.node.incident_routes import router as incident_router
from cordon.node.incidents import NodeIncidents
from cordon.node.metrics import NodeMetrics
from cordon.node.moderation.service import Moderation
from cordon.node.routes import health, manage, match, streams
from cordon.node.routes import moderation as moderation_routes
from cordon.node.service import Node, NodeError
from cordon.node.settings import NodeSettings
from cordon.node.streams import StreamService
from cordon.node.webhooks import DeliveryWorker
from cordon.node.workers import Leadership, LocalTail
from cordon.store import Store
from cordon.web.node_ui import mount_node_ui

log = logging.getLogger("cordon.node")


def make_follower(node: Node) -> HubFollower | None:
    settings = node.settings
    if not settings.hub_url:
        return None
    return HubFollower(settings.hub_url, settings.hub_token or "", node,
                       poll_seconds=settings.poll_seconds, use_stream=settings.use_stream)


def create_app(settings: NodeSettings | None = None, store: Store | None = None) -> FastAPI:
    settings = settings or NodeSettings()
    store = store or Store(settings.database_url)
    node = Node(store, settings)
    follower = make_follower(node)
    worker = DeliveryWorker(node)
    moderation = Moderation(node)
    incidents = NodeIncidents(node)
    if follower is not None:
        follower.incidents = incidents
        follower.apply_priority = node.apply_priority
    live = StreamService(node)
    loaded = threading.Event()
    # Several processes (cordon.node.workers): one leads, every one tails the others' writes.
    leadership = Leadership(settings.leader_lock)
    tail = LocalTail(node, settings.tail_seconds) if settings.tail_seconds > 0 else None
    node.track_changes = tail is not None

    def lead() -> None:
        if follower is not None:
            follower.start()
        worker.start()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if tail is not None:
            await run_in_threadpool(tail.mark_loaded)
        count = await run_in_threadpool(node.load)
        loaded.set()
        log.info("indexed %d entries", count)
        leadership.start(lead)
        if tail is not None:
            tail.start()
        moderation.start()
        await run_in_threadpool(incidents.start)
        await run_in_threadpool(live.start, leadership.leading)
        try:
            yield
        finally:
            leadership.resign()
            await run_in_threadpool(live.stop)
            await run_in_threadpool(incidents.stop)
            if follower is not None:
                await run_in_threadpool(follower.stop)
            await run_in_threadpool(worker.stop)
            if tail is not None:
                await run_in_threadpool(tail.stop)
            await run_in_threadpool(node.match_log.close)
            await run_in_threadpool(moderation.stop)

    app = FastAPI(
        title="Cordon node",
        version=__version__,
        description="A platform's matcher: mirrors hub banks, keeps private banks, matches "
                    "uploads, URLs and signals, and turns matches into actions.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.node = node
    app.state.follower = follower
    app.state.worker = worker
    app.state.moderation = moderation
    app.state.incidents = incidents
    app.state.streams = live
    app.state.loaded = loaded
    # `leadership.leading` is set in the one process that follows the hub and delivers
    # webhooks: background work that must run once per node, not per process, waits for it.
    app.state.leadership = leadership
    app.include_router(moderation_routes.router)
    metrics = NodeMetrics()
    app.state.metrics = metrics
    for router in (match.router, manage.router, health.router, streams.router):
        app.include_router(router)

    app.include_router(incident_router)

    @app.exception_handler(NodeError)
    async def node_error(_request: Request, exc: NodeError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthorized) else {}
        headers.update(getattr(exc, "headers", None) or {})  # e.g. Retry-After with a 429
        detail: object = getattr(exc, "errors", None) or str(exc)
        return JSONResponse({"detail": detail}, status_code=exc.status, headers=headers)

    @app.exception_handler(HubClientError)
    async def hub_error(_request: Request, exc: HubClientError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=502)

    add_common_error_handlers(app)
    # After the API's error handlers: the UI answers their errors with pages under /ui.
    mount_node_ui(app, node)

    app.add_middleware(MetricsMiddleware, metrics=metrics)
    # Outermost: plain signal queries that match nothing skip the framework altogether.
    app.add_middleware(FastMatch, node=node, metrics=metrics)
    return app
