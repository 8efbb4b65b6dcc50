"""The gateway's ``CustomLogger`` hooks, run inside the request:

- ``async_pre_call_hook(user_api_key_dict, cache, data, call_type)``: may
  change ``data`` (in place, or by returning a new dict) or refuse the call
  by raising: a PolyrelayError keeps its status; anything with a 4xx
  ``status_code`` (FastAPI's / Starlette's ``HTTPException``) answers with it
  and its ``detail``; any other exception is a 400 with its message. A
  string returned is a refusal with that message (400).
- ``async_post_call_success_hook(data, user_api_key_dict, response)``: a
  value returned replaces the answer.
- ``async_post_call_failure_hook(request_data, original_exception, user_api_key_dict)``.
- ``async_post_call_streaming_hook(user_api_key_dict, response)``: once per
  streamed chunk; a value returned replaces the chunk.

``for_gateway`` returns None when no logger overrides any of them, and the
gateway then runs none of this. Nothing here imports the gateway.
"""

from __future__ import annotations

import logging
import traceback
from dataclasses import dataclass, field
from typing import Any

from ..errors import BadRequestError, PolyrelayError, error_for_status
from .custom_logger import CustomLogger, overrides

log = logging.getLogger("polyrelay.observe")

CALL_TYPES = {"chat_completions": "completion", "completions": "text_completion", "embeddings": "embeddings",
              "moderations": "moderation"}


@dataclass
class UserAPIKeyAuth:
    """The caller, under the attribute names LiteLLM's hooks read."""

    api_key: str | None = None  # the key's hash, never the key
    token: str | None = None
    key_alias: str | None = None
    user_id: str | None = None
    team_id: str | None = None
    team_alias: str | None = None
    end_user_id: str | None = None
    models: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    user_role: str | None = None


def refusal(exc: BaseException) -> PolyrelayError:
    """A hook's exception as the 4xx the caller gets."""
    if isinstance(exc, PolyrelayError):
        return exc
    status = getattr(exc, "status_code", None)
    message = getattr(exc, "detail", None) or str(exc) or type(exc).__name__
    if not isinstance(message, str):
        message = str(message.get("error", message)) if isinstance(message, dict) else str(message)
    if isinstance(status, int) and 400 <= status < 500:
        return error_for_status(status, message)
    return BadRequestError(message, code="rejected_by_callback")


class GatewayHooks:
    def __init__(self, loggers: list[CustomLogger]) -> None:
        self.pre = [h for h in loggers if overrides(h, "async_pre_call_hook")]
        self.success = [h for h in loggers if overrides(h, "async_post_call_success_hook")]
        self.failure = [h for h in loggers if overrides(h, "async_post_call_failure_hook")]
        self.streaming = [h for h in loggers if overrides(h, "async_post_call_streaming_hook")]

    def __bool__(self) -> bool:
        return bool(self.pre or self.success or self.failure or self.streaming)

    async def pre_call(self, auth: UserAPIKeyAuth, data: dict[str, Any], endpoint: str) -> dict[str, Any]:
        call_type = CALL_TYPES.get(endpoint, endpoint)
        for handler in self.pre:
            try:
                result = await handler.async_pre_call_hook(auth, None, data, call_type)
            except Exception as exc:
                raise refusal(exc) from exc
            if isinstance(result, str):
                raise BadRequestError(result, code="rejected_by_callback")
            if isinstance(result, dict):
                data = result
        return data

    async def post_success(self, data: dict[str, Any], auth: UserAPIKeyAuth, response: Any) -> Any:
        for handler in self.success:
            try:
                result = await handler.async_post_call_success_hook(data, auth, response)
            except Exception as exc:
                raise refusal(exc) from exc
            if result is not None:
                response = result
        return response

    async def post_failure(self, data: dict[str, Any], error: BaseException, auth: UserAPIKeyAuth) -> None:
        text = "".join(traceback.format_exception(error))
        for handler in self.failure:
            try:
                await handler.async_post_call_failure_hook(data, error, auth, text)
            except Exception as exc:  # the call has failed already; a failing hook must not change its answer
                log.warning("%s.async_post_call_failure_hook raised %s: %s", type(handler).__name__,
                            type(exc).__name__, exc)

    def wrap_stream(self, stream: Any, auth: UserAPIKeyAuth) -> Any:
        return HookedStream(stream, self.streaming, auth) if self.streaming else stream


class HookedStream:
    """A stream whose chunks pass through the streaming hooks; everything else is the stream's."""

    def __init__(self, stream: Any, handlers: list, auth: UserAPIKeyAuth) -> None:
        self._stream = stream
        self._handlers = handlers
        self._auth = auth

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    async def next_batch(self) -> list[dict[str, Any]]:
        batch = await self._stream.next_batch()
        out = []
        for chunk in batch:
            for handler in self._handlers:
                result = await handler.async_post_call_streaming_hook(self._auth, chunk)
                if result is not None:
                    chunk = result.model_dump() if hasattr(result, "model_dump") else result
            out.append(chunk)
        return out


def for_gateway(loggers: list[Any]) -> GatewayHooks | None:
    hooks = GatewayHooks([h for h in loggers if isinstance(h, CustomLogger)])
    return hooks or None
