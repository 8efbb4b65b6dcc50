"""Counts every HTTP request by route and status, times it, and tracks how
many are in flight. Routes record what only they know (tokens, spend,
time to first token, deployment outcomes) on the same ``Metrics``."""

from __future__ import annotations

import time

from ..http import context
from ..metrics import Metrics


class MetricsMiddleware:
    def __init__(self, app, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        metrics = self.metrics
        metrics.in_flight.inc()
        ctx = context(scope)
        try:
            await self.app(scope, receive, send)
        finally:
            metrics.in_flight.dec()
            # The route template, never the raw path: bounded label values.
            route = scope.get("route")
            label = getattr(route, "path", None) or "unmatched"
            if label.startswith("/v1/"):
                label = label[3:]
            status = ctx.status or 500
            child = metrics.child
            child(metrics.requests, label, scope["method"], str(status)).inc()
            elapsed = time.perf_counter() - ctx.started
            child(metrics.latency, label).observe(elapsed)
            if ctx.upstream_s:
                child(metrics.overhead, label).observe(max(0.0, elapsed - ctx.upstream_s))
            if status >= 400 or ctx.error_type:
                child(metrics.errors, label, ctx.model or "", ctx.error_type or str(status)).inc()
