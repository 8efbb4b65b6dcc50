"""Ollama's native API (``ollama/<model>``): ``POST /api/chat`` and
``POST /api/embed``.

(``ollama_chat/`` is Ollama's OpenAI-compatible route, a row in
``openai_compatible.py``.) Ollama streams unless told not to, so ``stream``
is always written into the body. Streams are NDJSON: one object per line,
the last with ``done: true``, ``done_reason`` and the token counts.
"""

from __future__ import annotations

from typing import Any

import orjson

from ..errors import BadRequestError
from . import _convert as cv
from .base import OPENAI_ONLY_PARAMS, CHAT, EMBEDDING, Adapter, Call, HTTPRequest, StreamEvent, StreamState

# OpenAI param -> key under Ollama's "options".
_OPTIONS = {"temperature": "temperature", "top_p": "top_p", "seed": "seed", "presence_penalty": "presence_penalty",
            "frequency_penalty": "frequency_penalty"}
_CONSUMED = frozenset({
    *_OPTIONS, "messages", "max_tokens", "max_completion_tokens", "stop", "tools", "tool_choice",
    "response_format",
    # The end-user id: Ollama has no field for it, and it is ours to track.
    "user",
})


class OllamaAdapter(Adapter):
    name = "ollama"
    kinds = frozenset({CHAT, EMBEDDING})
    default_api_base = "http://localhost:11434"
    api_key_env = ("OLLAMA_API_KEY",)  # only for servers behind a key (ollama.com, proxies)
    api_base_env = ("OLLAMA_API_BASE",)
    unsupported_params = OPENAI_ONLY_PARAMS | {"n"}

    def build_request(self, call: Call) -> HTTPRequest:
        creds = call.creds
        base = self.api_base(call, key_required=False)
        # A local server ends in :11434 or a proxy path; strip an OpenAI-style /v1
        # left over from an OLLAMA_API_BASE set for ollama_chat.
        base = base.removesuffix("/v1")
        headers = {"Content-Type": "application/json"}
        if creds.api_key:
            headers["Authorization"] = f"Bearer {creds.api_key}"
        headers.update(creds.extra_headers)
        params = call.params
        if call.kind == EMBEDDING:
            body = {"model": call.model, "input": params.get("input"),
                    **cv.passthrough(params, frozenset({"input", "dimensions", "encoding_format", "user"}))}
            if params.get("dimensions") is not None:
                body["dimensions"] = params["dimensions"]
            return HTTPRequest("POST", base + "/api/embed", headers, body)
        body = {"model": call.model, "messages": _messages(call, params.get("messages") or []),
                "stream": call.stream}
        options = {theirs: params[ours] for ours, theirs in _OPTIONS.items() if params.get(ours) is not None}
        if cv.max_tokens(params) is not None:
            options["num_predict"] = cv.max_tokens(params)
        if params.get("stop") is not None:
            options["stop"] = cv.stop_list(params["stop"])
        choice = params.get("tool_choice")
        if params.get("tools") and choice != "none":
            # Ollama always lets the model choose; "auto" is what it does anyway.
            if choice not in (None, "auto"):
                raise cv.unsupported(call, "tool_choice", f"value {choice!r} (Ollama only chooses tools itself)")
            body["tools"] = params["tools"]
        fmt = _format(params.get("response_format"))
        if fmt is not None:
            body["format"] = fmt
        extra = cv.passthrough(params, _CONSUMED)
        options.update(extra.pop("options", None) or {})  # the caller's own options (num_ctx, top_k, ...)
        if options:
            body["options"] = options
        body.update(extra)  # keep_alive, think, ...
        return HTTPRequest("POST", base + "/api/chat", headers, body, stream=call.stream, framing="ndjson")

    def parse_response(self, call: Call, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise BadRequestError("ollama answered with an unexpected body", llm_provider=self.name,
                                  model=call.model, status_code=502)
        if call.kind == EMBEDDING:
            prompt = int(data.get("prompt_eval_count") or 0)
            return {"object": "list", "model": data.get("model") or call.model,
                    "data": [{"object": "embedding", "index": i, "embedding": e}
                             for i, e in enumerate(data.get("embeddings") or [])],
                    "usage": {"prompt_tokens": prompt, "completion_tokens": 0, "total_tokens": prompt}
                    if "prompt_eval_count" in data else None}
        message = data.get("message") or {}
        tools = [_tool_call(t) for t in message.get("tool_calls") or []]
        content = message.get("content") or ""
        out = {"role": "assistant", "content": content if (content or not tools) else None,
               "tool_calls": tools or None}
        if message.get("thinking"):
            out["reasoning_content"] = message["thinking"]
        choice = {"index": 0, "message": out, "finish_reason": _finish(data.get("done_reason"), bool(tools))}
        return cv.response(call, [choice], _usage(data), model=data.get("model"))

    def parse_stream_event(self, state: StreamState, event: StreamEvent) -> list[dict[str, Any]]:
        data = orjson.loads(event.data)
        if "error" in data:
            # A failure after the 200 (e.g. the runner crashed): Ollama writes one error line.
            raise self.map_error(state.call, 500, event.data.encode(), {})
        state.model = state.model or data.get("model")
        message = data.get("message") or {}
        delta: dict[str, Any] = {}
        if message.get("content"):
            delta["content"] = message["content"]
        if message.get("thinking"):
            delta["reasoning_content"] = message["thinking"]
        if message.get("tool_calls"):
            # Ollama sends each tool call whole, never in pieces.
            first = state.extra.get("tools", 0)
            delta["tool_calls"] = [{"index": first + i, **_tool_call(t)} for i, t in enumerate(message["tool_calls"])]
            state.extra["tools"] = first + len(message["tool_calls"])
        if not data.get("done"):
            return [cv.chunk(state, delta)] if delta else []
        state.finished = True
        state.usage = _usage(data)
        return [cv.chunk(state, delta, _finish(data.get("done_reason"), bool(state.extra.get("tools"))))]


def _messages(call: Call, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    names: dict[str, str] = {}  # tool_call_id -> function name, for Ollama's tool_name
    for message in messages:
        role = message.get("role")
        item: dict[str, Any] = {"role": "system" if role == "developer" else role}
        texts, images = [], []
        for part in cv.parts(message.get("content")):
            kind = part.get("type", "text")
            if kind == "text":
                texts.append(part.get("text") or "")
            elif kind == "image_url":
                inline = cv.split_data_url(cv.image_url(part))
                if inline is None:
                    # Ollama takes base64 only, and an adapter fetches nothing itself.
                    raise BadRequestError("ollama takes images as base64 data: URLs only", llm_provider="ollama",
                                          model=call.model, param="messages")
                images.append(inline[1])
            else:
                raise BadRequestError(f"ollama cannot take content parts of type {kind!r}", llm_provider="ollama",
                                      model=call.model, param="messages")
        item["content"] = "".join(texts)
        if images:
            item["images"] = images
        if message.get("tool_calls"):
            item["tool_calls"] = []
            for tool_call in message["tool_calls"]:
                function = tool_call.get("function") or {}
                names[tool_call.get("id") or ""] = function.get("name") or ""
                item["tool_calls"].append({"function": {
                    "name": function.get("name"), "arguments": cv.arguments_object(call, function.get("arguments"))}})
        if role == "tool":
            name = message.get("name") or names.get(message.get("tool_call_id") or "")
            if name:
                item["tool_name"] = name
        out.append(item)
    return out


def _format(value: Any) -> Any:
    if not isinstance(value, dict):
        return None
    if value.get("type") == "json_object":
        return "json"
    if value.get("type") == "json_schema":
        return (value.get("json_schema") or {}).get("schema") or "json"
    return None


def _tool_call(tool_call: dict[str, Any]) -> dict[str, Any]:
    function = tool_call.get("function") or {}
    return {"id": tool_call.get("id") or cv.call_id(), "type": "function",
            "function": {"name": function.get("name"), "arguments": cv.arguments_text(function.get("arguments"))}}


def _finish(reason: str | None, tools: bool) -> str:
    if reason == "length":
        return "length"
    return "tool_calls" if tools else "stop"


def _usage(data: dict[str, Any]) -> dict[str, Any] | None:
    # Ollama leaves prompt_eval_count out when the whole prompt came from its cache.
    if "eval_count" not in data and "prompt_eval_count" not in data:
        return None
    prompt, completion = int(data.get("prompt_eval_count") or 0), int(data.get("eval_count") or 0)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
