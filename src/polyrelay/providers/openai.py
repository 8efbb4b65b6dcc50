"""OpenAI's HTTP API (chat, legacy completions, embeddings, moderations).

OpenAI's format is polyrelay's own, so requests go out nearly as they came
in and answers come back as they are. The same class serves every
OpenAI-compatible provider: each is one ``OpenAICompatible`` row in
``openai_compatible.py``, which sets the base URL, key variable and quirks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from ..errors import (
    AuthenticationError,
    BadRequestError,
    ContentPolicyViolationError,
    ContextWindowExceededError,
    PolyrelayError,
)
from .base import (
    CHAT,
    EMBEDDING,
    MODERATION,
    TEXT,
    Adapter,
    Call,
    HTTPRequest,
    StreamEvent,
    StreamState,
)

_PATHS = {
    CHAT: "/chat/completions",
    TEXT: "/completions",
    EMBEDDING: "/embeddings",
    MODERATION: "/moderations",
}

# Upstream 400s that only the message tells apart (OpenAI and its imitators).
_CONTEXT_WINDOW_MARKERS = (
    "context_length_exceeded",
    "maximum context length",
    "context length",
    "too many tokens",
    "prompt is too long",
)
_CONTENT_POLICY_MARKERS = ("content_policy_violation", "content_filter", "content management policy")


@dataclass(frozen=True)
class OpenAICompatible:
    """One OpenAI-protocol provider: a row of data, not a class of its own."""

    name: str
    api_base: str | None
    key_env: tuple[str, ...] = ()
    base_env: tuple[str, ...] = ()
    key_required: bool = True
    kinds: frozenset[str] = frozenset({CHAT})
    unsupported: frozenset[str] = frozenset()
    renamed: dict[str, str] = field(default_factory=dict)  # OpenAI name -> provider name
    streams_usage: bool = True  # accepts stream_options.include_usage


class OpenAIAdapter(Adapter):
    def __init__(self, row: OpenAICompatible) -> None:
        self.row = row
        self.name = row.name
        self.kinds = row.kinds
        self.default_api_base = row.api_base or ""
        self.api_key_env = row.key_env
        self.api_base_env = row.base_env
        self.unsupported_params = row.unsupported
        self.streams_usage = row.streams_usage

    def build_request(self, call: Call) -> HTTPRequest:
        creds = call.creds
        base = (creds.api_base or self.default_api_base).rstrip("/")
        if not base:
            raise BadRequestError(
                f"{self.name} needs an api_base (pass api_base= or set {self.api_base_env[0]})",
                llm_provider=self.name,
                model=call.model,
            )
        if self.row.key_required and not creds.api_key and base == self.default_api_base.rstrip("/"):
            env = " or ".join(self.api_key_env) or "api_key"
            raise AuthenticationError(
                f"No API key for {self.name}: pass api_key= or set {env}",
                llm_provider=self.name,
                model=call.model,
            )
        headers = {"Content-Type": "application/json"}
        if creds.api_key:
            headers["Authorization"] = f"Bearer {creds.api_key}"
        headers.update(creds.extra_headers)
        body: dict[str, Any] = {"model": call.model}
        for key, value in call.params.items():
            body[self.row.renamed.get(key, key)] = value
        if call.stream:
            body["stream"] = True
            # Always ask for usage, so cost is exact even when the caller did
            # not ask for it; the stream wrapper hides the extra chunk.
            if self.streams_usage:
                body["stream_options"] = {"include_usage": True}
        return HTTPRequest("POST", base + _PATHS[call.kind], headers, body, stream=call.stream)

    def parse_response(self, call: Call, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise BadRequestError(f"{self.name} answered with an unexpected body", llm_provider=self.name, model=call.model)
        return data

    def parse_stream_event(self, state: StreamState, event: StreamEvent) -> list[dict[str, Any]]:
        data = event.data
        if data == "[DONE]":
            state.finished = True
            return []
        chunk = orjson.loads(data)
        if "error" in chunk and "choices" not in chunk:
            raise self.map_error(state.call, _stream_error_status(chunk["error"]), data.encode(), {})
        if chunk.get("usage"):
            state.usage = chunk["usage"]
        elif isinstance(chunk.get("x_groq"), dict) and chunk["x_groq"].get("usage"):
            # Groq reports a stream's usage in its own x_groq field of the last chunk:
            # read it there rather than estimating with a tokenizer.
            state.usage = chunk["x_groq"]["usage"]
        # Providers without [DONE] (some compatible servers) end on finish_reason.
        return [chunk]

    def map_error(self, call: Call, status: int, body: bytes, headers: dict[str, str]) -> PolyrelayError:
        exc = super().map_error(call, status, body, headers)
        if status in (400, 413, 422):
            text = f"{exc.code or ''} {exc.message}".lower()
            cls = None
            if any(m in text for m in _CONTEXT_WINDOW_MARKERS):
                cls = ContextWindowExceededError
            elif any(m in text for m in _CONTENT_POLICY_MARKERS):
                cls = ContentPolicyViolationError
            if cls is not None:
                return cls(
                    exc.message,
                    status_code=400,
                    llm_provider=self.name,
                    model=call.model,
                    body=exc.body,
                    headers=headers,
                    code=exc.code,
                    param=exc.param,
                )
        return exc


def _stream_error_status(error: Any) -> int:
    """A mid-stream error event has no HTTP status: read one from its code."""
    if isinstance(error, dict):
        for key in ("status", "status_code", "code"):
            value = error.get(key)
            if isinstance(value, int) and 400 <= value <= 599:
                return value
        kind = str(error.get("type") or error.get("code") or "")
        if "rate_limit" in kind:
            return 429
        if "invalid_request" in kind:
            return 400
    return 500
