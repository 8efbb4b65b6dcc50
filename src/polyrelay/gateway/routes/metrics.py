"""GET /metrics: the Prometheus text exposition of this gateway's registry."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response


def make_metrics_route(gateway):
    async def metrics(request: Request) -> Response:
        if gateway.router is not None:
            await gateway.refresh_deployment_states()
        gateway.refresh_store_metrics()
        return Response(gateway.metrics.exposition(), media_type=gateway.metrics.content_type)

    return metrics
