"""The response cache's admin routes, as LiteLLM names them:
``GET /cache/ping`` (is the cache reachable) and ``POST /cache/delete``
(``{"keys": [...]}``, the keys from ``x-polyrelay-cache-key``). Admin only."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ...errors import BadRequestError, ServiceUnavailableError
from ..cache import describe
from ..http import parse_json_object
from .management import _require_admin
from .responses import json_response

MAX_KEYS_PER_DELETE = 1000


def make_cache_routes(gateway) -> list[tuple[str, Any, list[str], str]]:
    def cache_or_503():
        if gateway.cache is None:
            raise ServiceUnavailableError("No response cache is configured (litellm_settings.cache is not true).")
        return gateway.cache

    async def ping(request: Request) -> Response:
        _require_admin(request)
        cache = cache_or_503()
        try:
            await cache.ping()
        except Exception as exc:  # reported, never raised: this route exists to say so
            return json_response({"status": "unhealthy", "cache_type": cache.type, "ping_response": False,
                                  "error": type(exc).__name__}, status=503)
        return json_response({"status": "healthy", "cache_type": cache.type, "ping_response": True,
                              "cache": describe(cache), "counters": dict(cache.counters)})

    async def delete(request: Request) -> Response:
        _require_admin(request)
        cache = cache_or_503()
        data = parse_json_object(await request.body())
        keys = data.get("keys")
        if not isinstance(keys, list) or not all(isinstance(k, str) and k for k in keys):
            raise BadRequestError("'keys' must be a list of cache keys (from x-polyrelay-cache-key).", param="keys")
        if len(keys) > MAX_KEYS_PER_DELETE:
            raise BadRequestError(f"at most {MAX_KEYS_PER_DELETE} keys per call.", param="keys")
        try:
            deleted = await cache.delete(keys)
        except Exception as exc:
            raise ServiceUnavailableError(f"the {cache.type} cache could not be reached ({type(exc).__name__}).") \
                from None
        return json_response({"status": "success", "deleted": deleted})

    return [
        ("/cache/ping", ping, ["GET"], "Is the response cache reachable (admin)"),
        ("/cache/delete", delete, ["POST"], "Delete response cache entries by key (admin)"),
    ]
