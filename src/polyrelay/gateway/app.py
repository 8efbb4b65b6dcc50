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

The LLM routes (``POST /chat/completions`` and friends) skip Starlette's
own layers: ``HotRoutes`` sends them straight to their endpoint through the
same four middlewares, assembled a second time around ``GuardedEndpoint``.
Starlette's error middlewares, router and send wrappers cost ~6% of the CPU
of a proxied call; everything else (lifespan, management, health, docs)
goes through Starlette as before.
"""

from __future__ import annotations

import contextlib
import logging
import os
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..errors import BadRequestError, NotFoundError, PolyrelayError
from .config import Config, load
from .http import as_polyrelay_error, context, error_body, send_error
from .middleware.auth import AuthMiddleware
from .middleware.body_limit import BodyLimitMiddleware, BodyTooLarge
from .middleware.context import RequestContextMiddleware
from .middleware.metrics import MetricsMiddleware
from .routes import build_routes
from .routes.llm import LLMEndpoint
from .runtime import Gateway

log = logging.getLogger("polyrelay.gateway")

# Set by the CLI for worker processes (``--num_workers``), which build their
# app from the environment; see ``app_from_env``.
ENV_CONFIG = "POLYRELAY_GATEWAY_CONFIG"
ENV_MODEL = "POLYRELAY_GATEWAY_MODEL"


def _our_middleware(gateway: Gateway) -> list[Middleware]:
    return [
        Middleware(RequestContextMiddleware),
        Middleware(MetricsMiddleware, metrics=gateway.metrics),
        Middleware(AuthMiddleware, authenticator=gateway.auth, secrets=gateway.secrets),
        Middleware(BodyLimitMiddleware, max_bytes=gateway.max_request_bytes),
    ]


class GuardedEndpoint:
    """An LLM endpoint outside Starlette: sets the route (for metrics
    labels) and answers an unexpected exception with OpenAI's error body, as
    Starlette's exception handler would."""

    def __init__(self, route: Route, secrets: tuple[str, ...]) -> None:
        self.route = route
        self.secrets = secrets

    async def __call__(self, scope, receive, send) -> None:
        scope["route"] = self.route
        try:
            await self.route.endpoint(scope, receive, send)
        except BodyTooLarge:
            raise  # the body-limit middleware answers it
        except Exception as exc:
            if context(scope).status:
                raise  # the answer has begun: nothing to do but let the server close it
            await send_error(send, exc, scope, self.secrets)


class HotRoutes:
    """ASGI entry point: exact-path POSTs to the LLM routes go straight to
    their endpoint (wrapped in our middleware); everything else to Starlette."""

    def __init__(self, starlette: Starlette, hot: dict[str, Any]) -> None:
        self.starlette = starlette
        self.hot = hot
        self.state = starlette.state  # app.state, as Starlette's

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            endpoint = self.hot.get(scope["path"])
            if endpoint is not None:
                await endpoint(scope, receive, send)
                return
        await self.starlette(scope, receive, send)


def create_app(config: Config | None = None, gateway: Gateway | None = None) -> HotRoutes:
    gateway = gateway or Gateway(config or load())

    middleware = _our_middleware(gateway)

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

    routes = build_routes(gateway)
    app = Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={HTTPException: on_http_exception, PolyrelayError: on_polyrelay_error,
                            Exception: on_unexpected},
        lifespan=lifespan,
    )
    app.state.gateway = gateway
    hot: dict[str, Any] = {}
    for route in routes:
        if isinstance(route, Route) and isinstance(route.endpoint, LLMEndpoint) and "{" not in route.path:
            wrapped: Any = GuardedEndpoint(route, gateway.secrets)
            for layer in reversed(middleware):
                wrapped = layer.cls(wrapped, *layer.args, **layer.kwargs)
            hot[route.path] = wrapped
    return HotRoutes(app, hot)


def app_from_env() -> HotRoutes:
    """Factory for uvicorn's worker processes: the CLI has already checked
    the config in the parent, so an error here is unexpected."""
    return create_app(load(os.environ.get(ENV_CONFIG) or None, os.environ.get(ENV_MODEL) or None))
