"""The gateway ASGI app: routes, error handlers and the middleware stack,
assembled here in one place.

Request path, outermost first::

    RequestContextMiddleware   call id, start time, x-polyrelay-call-id on every response
    MetricsMiddleware          requests, errors, latency, in-flight
    AuthMiddleware             master key / virtual key -> Principal
    BodyLimitMiddleware        413 for bodies over max_request_size_mb
    (Starlette: exception handlers -> router -> endpoint)

Every error anywhere, including unknown routes (404) and wrong methods
(405), answers with OpenAI's error body.
"""

from __future__ import annotations

import contextlib
import logging
import os

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response

from ..errors import BadRequestError, NotFoundError, PolyrelayError
from .config import Config, load
from .http import as_polyrelay_error, error_body
from .middleware.auth import AuthMiddleware
from .middleware.body_limit import BodyLimitMiddleware
from .middleware.context import RequestContextMiddleware
from .middleware.metrics import MetricsMiddleware
from .routes import build_routes
from .runtime import Gateway

log = logging.getLogger("polyrelay.gateway")

# Set by the CLI for worker processes (``--num_workers``), which build their
# app from the environment; see ``app_from_env``.
ENV_CONFIG = "POLYRELAY_GATEWAY_CONFIG"
ENV_MODEL = "POLYRELAY_GATEWAY_MODEL"


def create_app(config: Config | None = None, gateway: Gateway | None = None) -> Starlette:
    gateway = gateway or Gateway(config or load())

    middleware = [
        Middleware(RequestContextMiddleware),
        Middleware(MetricsMiddleware, metrics=gateway.metrics),
        Middleware(AuthMiddleware, authenticator=gateway.auth, secrets=gateway.secrets),
        Middleware(BodyLimitMiddleware, max_bytes=gateway.max_request_bytes),
    ]

    def render(exc: PolyrelayError, headers: dict[str, str] | None = None) -> Response:
        status, body = error_body(exc, gateway.secrets)
        return Response(body, status_code=status, headers=headers, media_type="application/json")

    async def on_http_exception(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        method, path = request.method, request.url.path
        if exc.status_code == 404:
            return render(NotFoundError(f"Invalid URL ({method} {path}): no such route on this gateway.",
                                        code="route_not_found"))
        if exc.status_code == 405:
            allowed = (exc.headers or {}).get("Allow", "")
            return render(BadRequestError(f"Method {method} is not allowed for {path}; use {allowed}.",
                                          status_code=405, code="method_not_allowed"), exc.headers)
        return render(BadRequestError(exc.detail, status_code=exc.status_code), exc.headers)

    async def on_polyrelay_error(request: Request, exc: Exception) -> Response:
        return render(as_polyrelay_error(exc))

    async def on_unexpected(request: Request, exc: Exception) -> Response:
        return render(as_polyrelay_error(exc))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        await gateway.start()
        try:
            yield
        finally:
            await gateway.stop()

    app = Starlette(
        routes=build_routes(gateway),
        middleware=middleware,
        exception_handlers={HTTPException: on_http_exception, PolyrelayError: on_polyrelay_error,
                            Exception: on_unexpected},
        lifespan=lifespan,
    )
    app.state.gateway = gateway
    return app


def app_from_env() -> Starlette:
    """Factory for uvicorn's worker processes: the CLI has already checked
    the config in the parent, so an error here is unexpected."""
    return create_app(load(os.environ.get(ENV_CONFIG) or None, os.environ.get(ENV_MODEL) or None))
