"""Prometheus metrics of one hub process (a registry per application, so that several
applications in one process, as in tests, do not collide)."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class HubMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("cordon_hub_requests", "HTTP requests by route and status.",
                                ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("cordon_hub_request_seconds", "Request latency by route.",
                                 ["method", "route"], registry=self.registry)
        self.feed_entries = Counter("cordon_hub_feed_entries", "Entries served by the feed.",
                                    registry=self.registry)
        self.stream_entries = Counter("cordon_hub_stream_entries",
                                      "Entries pushed on streams.", registry=self.registry)
        self.stream_followers = Gauge("cordon_hub_stream_followers", "Open streams.",
                                      registry=self.registry)


class MetricsMiddleware:
    def __init__(self, app: ASGIApp, metrics: HubMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def tracking_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        finally:
            route = scope.get("route")
            # The route template, not the path: ids and bank names would explode the labels.
            name = getattr(route, "path", None) or "unmatched"
            self.metrics.requests.labels(scope["method"], name, str(status)).inc()
            if name != "/v1/stream":
                self.metrics.latency.labels(scope["method"], name).observe(
                    time.perf_counter() - start)
