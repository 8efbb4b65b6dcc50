"""Raw ASGI helpers for the hot path: read a JSON body, send JSON, send an
OpenAI-format error.

The LLM routes use these instead of Starlette's Request/Response objects:
one parse of the body, one serialisation of the answer, headers as the
byte pairs the server writes, nothing else allocated per request.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

import orjson

from ..errors import BadRequestError, InternalServerError, PolyrelayError, ServiceUnavailableError
from ..redact import scrub
from ..store.database import is_unavailable

log = logging.getLogger("polyrelay.gateway")

JSON_HEADERS = [(b"content-type", b"application/json")]
CONTEXT_KEY = "polyrelay"  # where the per-request context lives in the ASGI scope


class RequestContext:
    """Per-request facts every layer may need, made by the outermost middleware."""

    __slots__ = ("call_id", "started", "principal", "model", "status", "error_type", "upstream_s", "guardrails",
                 "log_mask")

    def __init__(self) -> None:
        self.call_id = str(uuid.uuid4())
        self.started = time.perf_counter()
        self.principal: Any = None  # auth.Principal, set by the auth middleware
        # The model group as a metrics label: a configured group, or "other"
        # (unknown names, batches, user_config), so callers cannot mint series.
        self.model: str | None = None
        self.status = 0
        self.error_type: str | None = None
        self.upstream_s = 0.0  # time spent waiting for the router and provider
        self.guardrails: bytes | None = None  # names of the guardrails applied, for the response headers
        # logging_only guardrails: masks a copy of the request or answer for what logs keep (guardrails/runner.py)
        self.log_mask: Any = None

    def overhead_ms(self) -> float:
        """Time in the gateway so far, minus the time spent waiting on the router/provider."""
        return max(0.0, (time.perf_counter() - self.started - self.upstream_s) * 1000)


def context(scope: dict[str, Any]) -> RequestContext:
    found = scope.get(CONTEXT_KEY)
    if found is None:  # the app used without its middleware (tests, embedding)
        found = scope[CONTEXT_KEY] = RequestContext()
    return found


async def read_body(receive, limit: int | None = None) -> bytes:
    """The whole request body. ``limit`` is enforced by the body-limit
    middleware as bytes arrive; it is checked here too for direct use."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone()
        body = message.get("body", b"")
        if body:
            chunks.append(body)
            size += len(body)
            if limit is not None and size > limit:
                raise body_too_large(limit)
        if not message.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


class ClientGone(Exception):
    """The client disconnected before we could answer: nothing to send."""


def body_too_large(limit: int) -> BadRequestError:
    return BadRequestError(
        f"Request body is larger than this gateway accepts ({limit / 1024 / 1024:g} MB). "
        "Raise general_settings.max_request_size_mb to allow it.",
        status_code=413, code="request_too_large")


def parse_json_object(body: bytes) -> dict[str, Any]:
    if not body:
        raise BadRequestError("Request body is empty: send a JSON object.", code="invalid_json")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequestError(f"Request body is not valid JSON: {exc}", code="invalid_json") from None
    if not isinstance(data, dict):
        raise BadRequestError(f"Request body must be a JSON object, got a JSON {type(data).__name__}.",
                              code="invalid_json")
    return data


def body_sender(send):
    """The ``send`` to use once the response has started. A middleware whose
    wrapper acts only on ``http.response.start`` names the send it wraps as
    the wrapper's ``after_start``; a stream's chunks skip those wrappers
    (a coroutine call each per relayed chunk, issue 23)."""
    while (inner := getattr(send, "after_start", None)) is not None:
        send = inner
    return send


def overhead_header(ctx: RequestContext) -> tuple[bytes, bytes]:
    return (b"x-polyrelay-overhead-ms", f"{ctx.overhead_ms():.3f}".encode())


def response_headers(ctx: RequestContext, hidden: dict[str, Any]) -> list[tuple[bytes, bytes]]:
    """x-polyrelay-* headers from a response's hidden params."""
    headers = [overhead_header(ctx)]
    cost = hidden.get("response_cost")
    if cost is not None:
        headers.append((b"x-polyrelay-response-cost", repr(float(cost)).encode()))
    model_id = hidden.get("model_id")
    if model_id:
        headers.append((b"x-polyrelay-model-id", str(model_id).encode()))
    if "cache_key" in hidden:
        from .cache import hidden_headers

        headers += hidden_headers(hidden)
    if ctx.guardrails:
        headers += guardrail_headers(ctx)
    return headers


def guardrail_headers(ctx: RequestContext) -> list[tuple[bytes, bytes]]:
    """The applied guardrails, under our name and LiteLLM's (clients read both)."""
    return [(b"x-polyrelay-applied-guardrails", ctx.guardrails), (b"x-litellm-applied-guardrails", ctx.guardrails)]


async def send_bytes(send, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None,
                     content_type: bytes = b"application/json") -> None:
    out = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    if headers:
        out.extend(headers)
    await send({"type": "http.response.start", "status": status, "headers": out})
    await send({"type": "http.response.body", "body": body})


async def send_json(send, status: int, data: Any, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    await send_bytes(send, status, orjson.dumps(data), headers)


_unavailable_logged_at = float("-inf")


def as_polyrelay_error(exc: BaseException) -> PolyrelayError:
    """Any exception as one of ours; unexpected ones are logged and hidden."""
    if isinstance(exc, PolyrelayError):
        return exc
    if is_unavailable(exc):  # PostgreSQL restarting, say: try again, nothing is wrong with the request
        global _unavailable_logged_at
        if time.monotonic() - _unavailable_logged_at > 10:  # once per outage, not once per request
            _unavailable_logged_at = time.monotonic()
            log.warning("the database is unavailable (%s); requests that need it answer 503", type(exc).__name__)
        return ServiceUnavailableError("The gateway's database is unavailable; try again shortly.",
                                       headers={"retry-after": "1"})
    log.error("unhandled error while serving a request", exc_info=exc)
    return InternalServerError(f"The gateway failed to handle this request ({type(exc).__name__}).")


def error_dict(exc: PolyrelayError, secrets: tuple[str, ...] = ()) -> tuple[int, dict[str, Any]]:
    """(status, OpenAI error body), scrubbed of every credential we know."""
    body = exc.to_openai_body()
    body["error"]["message"] = scrub(body["error"]["message"], secrets)
    status = exc.status_code if isinstance(exc.status_code, int) and 400 <= exc.status_code <= 599 else 500
    return status, body


def error_body(exc: PolyrelayError, secrets: tuple[str, ...] = ()) -> tuple[int, bytes]:
    status, body = error_dict(exc, secrets)
    return status, orjson.dumps(body)


async def send_error(send, exc: BaseException, scope: dict[str, Any] | None = None,
                     secrets: tuple[str, ...] = (), headers: list[tuple[bytes, bytes]] | None = None) -> None:
    error = as_polyrelay_error(exc)
    status, body = error_body(error, secrets)
    if scope is not None:
        ctx = context(scope)
        ctx.error_type = error.type
    extra = list(headers or [])
    retry_after = error.headers.get("retry-after") if error.headers else None
    if retry_after:
        extra.append((b"retry-after", str(retry_after).encode()))
    await send_bytes(send, status, body, extra)
