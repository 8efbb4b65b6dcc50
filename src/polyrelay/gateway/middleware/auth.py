"""Authentication: a request to anything but the public routes must carry
the master key or a virtual key (see ``gateway/auth.py``). The caller's
``Principal`` is left on the request context for the routes' own checks
(allowed models, budgets)."""

from __future__ import annotations

from ..anthropic_errors import MESSAGES_PATHS, send_anthropic_error
from ..auth import Authenticator, token_from_headers
from ..http import context, send_error
from ..key_fields import check_route
from ...ui import is_ui_path

# Health probes, metrics scrapes and the API description need no key, as in LiteLLM.
PUBLIC_PATHS = frozenset({
    "/health/liveliness", "/health/liveness", "/health/readiness", "/metrics", "/openapi.json", "/docs",
    "/v1/health/liveliness", "/v1/health/liveness", "/v1/health/readiness", "/v1/metrics",
})


class AuthMiddleware:
    def __init__(self, app, authenticator: Authenticator, secrets: tuple[str, ...] = ()) -> None:
        self.app = app
        self.auth = authenticator
        self.secrets = secrets

    async def __call__(self, scope, receive, send) -> None:
        # The admin UI (/ui, and / which redirects there) signs its users in itself (ui/auth.py).
        if scope["type"] != "http" or scope["path"] in PUBLIC_PATHS or is_ui_path(scope["path"]):
            await self.app(scope, receive, send)
            return
        token = token_from_headers(scope["headers"]) if self.auth.required else None
        try:
            principal = await self.auth.authenticate(token)
            routes = getattr(principal.entry, "routes", None)
            if routes is not None:  # the key's allowed_routes / key_type
                check_route(routes, scope["path"])
        except Exception as exc:  # ours, or the database being unreachable (503): an OpenAI-format error either way
            reply = send_anthropic_error if scope["path"] in MESSAGES_PATHS else send_error
            await reply(send, exc, scope, self.secrets + ((token,) if token else ()))
            return
        context(scope).principal = principal
        await self.app(scope, receive, send)
