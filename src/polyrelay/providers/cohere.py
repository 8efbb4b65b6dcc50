"""Cohere's v2 API (``cohere/<model>``): ``POST /v2/chat`` and ``POST /v2/embed``.

v2 messages are close to OpenAI's (system/user/assistant/tool roles,
``tool_calls``, ``tool_call_id``); the answer's ``message.content`` is a list
of parts. Streams are SSE with typed events: message-start, content-start /
content-delta / content-end, tool-plan-delta, tool-call-start / -delta / -end,
and message-end (finish reason and usage), which closes the stream.
"""

from __future__ import annotations

from typing import Any

import orjson

from ..errors import AuthenticationError, BadRequestError, ContextWindowExceededError, PolyrelayError
from ..usage_checks import count
from . import _convert as cv
from .base import OPENAI_ONLY_PARAMS, CHAT, EMBEDDING, Adapter, Call, HTTPRequest, StreamEvent, StreamState

_FINISH = {
    "COMPLETE": "stop",
    "STOP_SEQUENCE": "stop",
    "MAX_TOKENS": "length",
    "TOOL_CALL": "tool_calls",
    "ERROR_TOXIC": "content_filter",
    "ERROR_LIMIT": "length",
}
_RENAMED = {"temperature": "temperature", "top_p": "p", "seed": "seed", "frequency_penalty": "frequency_penalty",
            "presence_penalty": "presence_penalty"}
_CONSUMED = frozenset({
    *_RENAMED, "messages", "max_tokens", "max_completion_tokens", "stop", "tools", "tool_choice",
    "response_format",
    # The end-user id: Cohere has no field for it, and it is ours to track.
    "user",
})
_CONTEXT_MARKERS = ("too many tokens", "context length", "exceeds the maximum", "too long")


class CohereAdapter(Adapter):
    name = "cohere"
    kinds = frozenset({CHAT, EMBEDDING})
    default_api_base = "https://api.cohere.com"
    api_key_env = ("COHERE_API_KEY", "CO_API_KEY")
    api_base_env = ("COHERE_API_BASE",)
    unsupported_params = OPENAI_ONLY_PARAMS | {"n"}

    def build_request(self, call: Call) -> HTTPRequest:
        creds = call.creds
        base = self.api_base(call)
        headers = {"Content-Type": "application/json",
                   "Accept": "text/event-stream" if call.stream else "application/json"}
        if creds.api_key:
            headers["Authorization"] = f"Bearer {creds.api_key}"
        headers.update(creds.extra_headers)
        params = call.params
        if call.kind == EMBEDDING:
            value = params.get("input")
            body = {"model": call.model, "texts": value if isinstance(value, list) else [value],
                    "input_type": "search_document", "embedding_types": ["float"]}
            if params.get("dimensions") is not None:
                body["output_dimension"] = params["dimensions"]
            body.update(cv.passthrough(params, frozenset({"input", "dimensions", "encoding_format", "user"})))
            return HTTPRequest("POST", base + "/v2/embed", headers, body)
        body: dict[str, Any] = {"model": call.model, "messages": _messages(call, params.get("messages") or [])}
        for ours, theirs in _RENAMED.items():
            if params.get(ours) is not None:
                body[theirs] = params[ours]
        if cv.max_tokens(params) is not None:
            body["max_tokens"] = cv.max_tokens(params)
        if params.get("stop") is not None:
            body["stop_sequences"] = cv.stop_list(params["stop"])
        if params.get("tools"):
            body["tools"] = [{"type": "function", "function": t.get("function") or {}} for t in params["tools"]]
        choice = params.get("tool_choice")
        if choice in ("required", "none"):
            body["tool_choice"] = choice.upper()
        elif choice not in (None, "auto"):
            raise cv.unsupported(call, "tool_choice", f"value {choice!r} (Cohere takes auto, required or none)")
        fmt = params.get("response_format")
        if isinstance(fmt, dict) and fmt.get("type") in ("json_object", "json_schema"):
            body["response_format"] = {"type": "json_object"}
            schema = (fmt.get("json_schema") or {}).get("schema")
            if schema:
                body["response_format"]["json_schema"] = schema
        body.update(cv.passthrough(params, _CONSUMED))
        if call.stream:
            body["stream"] = True
        return HTTPRequest("POST", base + "/v2/chat", headers, body, stream=call.stream)

    def parse_response(self, call: Call, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise BadRequestError("cohere answered with an unexpected body", llm_provider=self.name,
                                  model=call.model, status_code=502)
        if call.kind == EMBEDDING:
            vectors = data.get("embeddings") or {}
            if isinstance(vectors, dict):
                vectors = vectors.get("float") or []
            billed = ((data.get("meta") or {}).get("billed_units") or {}).get("input_tokens")
            return {"object": "list", "model": call.model,
                    "data": [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)],
                    "usage": {"prompt_tokens": int(billed), "completion_tokens": 0, "total_tokens": int(billed)}
                    if billed is not None else None}
        message = data.get("message") or {}
        text = "".join(p.get("text") or "" for p in message.get("content") or [] if p.get("type", "text") == "text")
        tools = [{"id": t.get("id") or cv.call_id(), "type": "function",
                  "function": {"name": (t.get("function") or {}).get("name"),
                               "arguments": cv.arguments_text((t.get("function") or {}).get("arguments"))}}
                 for t in message.get("tool_calls") or []]
        out = {"role": "assistant", "content": text if (text or not tools) else None, "tool_calls": tools or None}
        finish = _FINISH.get(data.get("finish_reason") or "", "stop")
        return cv.response(call, [{"index": 0, "message": out, "finish_reason": finish}], _usage(data.get("usage")),
                           id=data.get("id"))

    def parse_stream_event(self, state: StreamState, event: StreamEvent) -> list[dict[str, Any]]:
        data = orjson.loads(event.data)
        kind = data.get("type") or event.event
        delta = data.get("delta") or {}
        message = delta.get("message") or {}
        if kind == "message-start":
            state.id = data.get("id") or state.id
            return []
        if kind == "content-delta":
            piece = (message.get("content") or {}).get("text")
            return [cv.chunk(state, {"content": piece})] if piece else []
        if kind == "tool-call-start":
            tool = message.get("tool_calls") or {}
            function = tool.get("function") or {}
            index = state.extra.get("tools", 0)
            state.extra["tools"] = index + 1
            return [cv.chunk(state, {"tool_calls": [{
                "index": index, "id": tool.get("id") or cv.call_id(), "type": "function",
                "function": {"name": function.get("name"), "arguments": function.get("arguments") or ""}}]})]
        if kind == "tool-call-delta":
            piece = ((message.get("tool_calls") or {}).get("function") or {}).get("arguments")
            if not piece:
                return []
            return [cv.chunk(state, {"tool_calls": [{"index": state.extra.get("tools", 1) - 1,
                                                     "function": {"arguments": piece}}]})]
        if kind == "message-end":
            if delta.get("error"):
                raise self.map_error(state.call, 500, orjson.dumps({"message": delta["error"]}), {})
            state.finished = True
            state.usage = _usage(delta.get("usage"))
            return [cv.chunk(state, {}, _FINISH.get(delta.get("finish_reason") or "", "stop"))]
        # content-start/-end, tool-plan-delta, tool-call-end, citations, debug: nothing for OpenAI clients.
        return []

    def map_error(self, call: Call, status: int, body: bytes, headers: dict[str, str]) -> PolyrelayError:
        exc = super().map_error(call, status, body, headers)
        cls: type[PolyrelayError] | None = None
        if status == 498:
            cls = AuthenticationError  # Cohere's "invalid token" status
        elif status == 400 and any(m in exc.message.lower() for m in _CONTEXT_MARKERS):
            cls = ContextWindowExceededError
        if cls is None:
            return exc
        return cls(exc.message, llm_provider=self.name, model=call.model, body=exc.body, headers=headers,
                   code=exc.code, secrets=call.creds.secrets())


def _messages(call: Call, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for message in messages:
        role = message.get("role")
        if role == "developer":
            role = "system"
        item: dict[str, Any] = {"role": role}
        if role == "tool":
            item["tool_call_id"] = message.get("tool_call_id")
            item["content"] = cv.text(message.get("content"))
        elif role == "assistant":
            if message.get("content"):
                item["content"] = cv.text(message.get("content"))
            if message.get("tool_calls"):
                item["tool_calls"] = [{"id": t.get("id"), "type": "function", "function": {
                    "name": (t.get("function") or {}).get("name"),
                    "arguments": cv.arguments_text((t.get("function") or {}).get("arguments"))}}
                    for t in message["tool_calls"]]
        else:
            item["content"] = _content(call, message.get("content"))
        out.append(item)
    return out


def _content(call: Call, content: Any) -> Any:
    if isinstance(content, str) or content is None:
        return content or ""
    out = []
    for part in cv.parts(content):
        kind = part.get("type", "text")
        if kind == "text":
            out.append({"type": "text", "text": part.get("text") or ""})
        elif kind == "image_url":
            out.append({"type": "image_url", "image_url": {"url": cv.image_url(part)}})
        else:
            raise BadRequestError(f"cohere cannot take content parts of type {kind!r}", llm_provider="cohere",
                                  model=call.model, param="messages")
    return out


def _usage(usage: dict[str, Any] | None) -> dict[str, Any] | None:
    """``tokens`` counts what the model processed; ``billed_units`` (kept
    beside) is what Cohere charges, without its prompt template: the cost
    step prices ``billed_units`` when it is there."""
    if not usage:
        return None
    counted = usage.get("tokens") or usage.get("billed_units") or {}
    prompt = count(counted.get("input_tokens"), "cohere", "input_tokens")
    completion = count(counted.get("output_tokens"), "cohere", "output_tokens")
    out: dict[str, Any] = {"prompt_tokens": prompt, "completion_tokens": completion,
                           "total_tokens": prompt + completion}
    if usage.get("billed_units"):
        out["billed_units"] = usage["billed_units"]
    return out
