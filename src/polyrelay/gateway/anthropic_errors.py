"""Errors in Anthropic's shape for the /v1/messages routes, so the ``anthropic``
SDK and Claude Code read them as Anthropic's own (``{"type": "error",
"error": {"type", "message"}}``, same status as everywhere else)."""

from __future__ import annotations

import orjson

from ..dialects.anthropic_messages import error_body
from .http import as_polyrelay_error, context, error_dict, send_bytes

# The paths whose errors, from the auth middleware on, are Anthropic-shaped.
MESSAGES_PATHS = frozenset({"/v1/messages", "/messages", "/v1/messages/count_tokens", "/messages/count_tokens"})


async def send_anthropic_error(send, exc: BaseException, scope=None, secrets: tuple[str, ...] = (),
                               headers: list[tuple[bytes, bytes]] | None = None) -> None:
    error = as_polyrelay_error(exc)
    status, body = error_dict(error, secrets)
    if scope is not None:
        context(scope).error_type = error.type
    extra = list(headers or [])
    retry_after = error.headers.get("retry-after") if error.headers else None
    if retry_after:
        extra.append((b"retry-after", str(retry_after).encode()))
    await send_bytes(send, status, orjson.dumps(error_body(status, body["error"]["message"])), extra)
