"""Anthropic's Messages API (``POST /v1/messages``).

Translation only, both ways:

- request: system messages lifted to the top-level ``system``; OpenAI
  content parts, assistant ``tool_calls`` and ``tool`` messages turned into
  Anthropic content blocks (``text``, ``image``, ``tool_use``,
  ``tool_result``); consecutive same-role turns merged (Anthropic wants
  user and assistant to alternate); ``cache_control`` wherever the caller
  put it, untouched; ``max_tokens`` always sent (Anthropic requires it);
  ``response_format`` served by a forced tool whose input is the answer.
- response and stream events (message_start, content_block_*,
  message_delta, message_stop) back to OpenAI chat completions and chunks;
- error bodies ``{"type": "error", "error": {"type": ..., "message": ...}}``
  to polyrelay's exception classes.

Usage: Anthropic's ``input_tokens`` excludes cached tokens; polyrelay's
``prompt_tokens`` includes them (OpenAI's definition), with the cache
classes beside it under both LiteLLM's names.
"""

from __future__ import annotations

from typing import Any

import orjson

from ..errors import (
    AuthenticationError,
    BadRequestError,
    ContentPolicyViolationError,
    ContextWindowExceededError,
    PolyrelayError,
    error_for_status,
)
from ..types import now
from ..usage_checks import count
from .base import CHAT, Adapter, Call, HTTPRequest, StreamEvent, StreamState, error_message_from_body

API_VERSION = "2023-06-01"
# Anthropic rejects a request without max_tokens; OpenAI callers rarely set
# it. 4096 is within every Claude model's output limit.
DEFAULT_MAX_TOKENS = 4096
# The forced tool that carries a response_format answer.
JSON_TOOL_NAME = "json_tool_call"

FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}

# Error ``type`` -> HTTP status, for error events inside a 200 stream
# (https://docs.claude.com/en/api/errors).
ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}

# 400s that only the message tells apart.
_CONTEXT_WINDOW_MARKERS = ("prompt is too long", "exceed context limit", "context window", "too many tokens")
_CONTENT_POLICY_MARKERS = ("content filtering policy", "usage policy")

# OpenAI chat params with no Anthropic equivalent: named before the call
# (UnsupportedParamsError), or dropped with drop_params.
UNSUPPORTED = frozenset({
    "n", "seed", "logit_bias", "logprobs", "top_logprobs", "presence_penalty", "frequency_penalty",
    "functions", "function_call", "modalities", "audio", "prediction", "store", "web_search_options",
    "verbosity", "reasoning_effort",
})
# Params this module translates; every other param passes through as given
# (top_k, thinking, service_tier, ... are Anthropic's own).
_TRANSLATED = frozenset({
    "messages", "max_tokens", "max_completion_tokens", "stop", "user", "tools", "tool_choice",
    "parallel_tool_calls", "response_format",
})


class AnthropicAdapter(Adapter):
    name = "anthropic"
    kinds = frozenset({CHAT})
    default_api_base = "https://api.anthropic.com"
    api_key_env = ("ANTHROPIC_API_KEY",)
    api_base_env = ("ANTHROPIC_API_BASE",)
    unsupported_params = UNSUPPORTED

    # -- request -----------------------------------------------------------

    def build_request(self, call: Call) -> HTTPRequest:
        creds = call.creds
        base = (creds.api_base or self.default_api_base).rstrip("/")
        if not creds.api_key and base == self.default_api_base:
            raise AuthenticationError("No API key for anthropic: pass api_key= or set ANTHROPIC_API_KEY",
                                      llm_provider=self.name, model=call.model)
        headers = {"Content-Type": "application/json", "anthropic-version": API_VERSION}
        if creds.api_key:
            headers["x-api-key"] = creds.api_key
        headers.update(creds.extra_headers)
        return HTTPRequest("POST", messages_url(base), headers, self.request_body(call), stream=call.stream)

    def request_body(self, call: Call) -> dict[str, Any]:
        params = call.params
        system, messages = convert_messages(call, params.get("messages") or [])
        body: dict[str, Any] = {"model": call.model, "messages": messages}
        if system is not None:
            body["system"] = system
        max_tokens = params.get("max_tokens") or params.get("max_completion_tokens")
        body["max_tokens"] = int(max_tokens) if max_tokens else DEFAULT_MAX_TOKENS
        for key, value in params.items():
            if key not in _TRANSLATED:
                body[key] = value
        stop = params.get("stop")
        if stop:
            body["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
        if params.get("user"):
            body["metadata"] = {**(body.get("metadata") or {}), "user_id": str(params["user"])}
        tools = [convert_tool(t) for t in params.get("tools") or []]
        tool_choice = convert_tool_choice(call, params.get("tool_choice"))
        schema = response_schema(params.get("response_format"))
        if schema is not None:
            # Anthropic has no JSON mode: a tool the model must call, whose
            # input is the JSON answer, does the same job.
            tools.append({"name": JSON_TOOL_NAME, "description": "Respond with a JSON object.",
                          "input_schema": schema})
            tool_choice = {"type": "tool", "name": JSON_TOOL_NAME}
        if tools:
            body["tools"] = tools
        if params.get("parallel_tool_calls") is False and tool_choice is None and tools:
            tool_choice = {"type": "auto"}
        if tool_choice is not None:
            if params.get("parallel_tool_calls") is False and tool_choice.get("type") != "none":
                tool_choice["disable_parallel_tool_use"] = True
            body["tool_choice"] = tool_choice
        if call.stream:
            body["stream"] = True
        return body

    # -- response ----------------------------------------------------------

    def parse_response(self, call: Call, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict) or data.get("type") == "error":
            raise BadRequestError("anthropic answered with an unexpected body", llm_provider=self.name,
                                  model=call.model, status_code=502)
        json_mode = response_schema(call.params.get("response_format")) is not None
        texts: list[str] = []
        thinking: list[dict[str, Any]] = []
        tool_calls: list[dict[str, Any]] = []
        for block in data.get("content") or []:
            kind = block.get("type")
            if kind == "text":
                texts.append(block.get("text") or "")
            elif kind == "tool_use" and json_mode and block.get("name") == JSON_TOOL_NAME:
                texts.append(_dumps(block.get("input") or {}))
            elif kind == "tool_use":
                tool_calls.append({"id": block.get("id"), "type": "function",
                                   "function": {"name": block.get("name"),
                                                "arguments": _dumps(block.get("input") or {})}})
            elif kind in ("thinking", "redacted_thinking"):
                thinking.append(block)
        message: dict[str, Any] = {
            "role": "assistant",
            "content": "".join(texts) if texts or not tool_calls else None,
            "tool_calls": tool_calls or None,
        }
        if thinking:
            message["reasoning_content"] = "".join(b.get("thinking") or "" for b in thinking)
            message["thinking_blocks"] = thinking  # sent back as-is on the next turn
        return {
            "id": data.get("id"),
            "object": "chat.completion",
            "created": now(),
            "model": data.get("model") or call.model,
            "choices": [{"index": 0, "message": message,
                         "finish_reason": finish_reason(data.get("stop_reason"), json_mode) or "stop"}],
            "usage": convert_usage(data.get("usage")),
        }

    def parse_stream_event(self, state: StreamState, event: StreamEvent) -> list[dict[str, Any]]:
        data = orjson.loads(event.data)
        kind = data.get("type") or event.event
        extra = state.extra
        if kind == "message_start":
            message = data.get("message") or {}
            state.id = message.get("id")
            state.model = message.get("model") or state.call.model
            state.created = now()
            extra["usage"] = dict(message.get("usage") or {})
            extra["tools"] = {}  # Anthropic block index -> OpenAI tool_calls index
            extra["json_mode"] = response_schema(state.call.params.get("response_format")) is not None
            state.usage = convert_usage(extra["usage"])
            return [_chunk(state, {"role": "assistant", "content": ""})]
        if kind == "content_block_start":
            block = data.get("content_block") or {}
            if block.get("type") == "text" and block.get("text"):
                return [_chunk(state, {"content": block["text"]})]
            if block.get("type") == "tool_use":
                if extra.get("json_mode") and block.get("name") == JSON_TOOL_NAME:
                    extra["json_block"] = data.get("index")
                    return []
                tools = extra.setdefault("tools", {})
                position = tools[data.get("index")] = len(tools)
                return [_chunk(state, {"tool_calls": [{
                    "index": position, "id": block.get("id"), "type": "function",
                    "function": {"name": block.get("name"), "arguments": ""}}]})]
            return []
        if kind == "content_block_delta":
            return self._block_delta(state, data)
        if kind == "message_delta":
            usage = extra.setdefault("usage", {})
            # message_delta counts are cumulative: they replace what came before.
            usage.update({k: v for k, v in (data.get("usage") or {}).items() if v is not None})
            state.usage = convert_usage(usage)
            reason = finish_reason((data.get("delta") or {}).get("stop_reason"), bool(extra.get("json_mode")))
            return [_chunk(state, {}, reason)] if reason else []
        if kind == "message_stop":
            state.finished = True
            return []
        if kind == "error":
            error = data.get("error") or {}
            status = ERROR_STATUS.get(str(error.get("type")), 500)
            raise self.map_error(state.call, status, event.data.encode(), {})
        return []  # ping, content_block_stop, and event types newer than this module

    def _block_delta(self, state: StreamState, data: dict[str, Any]) -> list[dict[str, Any]]:
        delta = data.get("delta") or {}
        kind = delta.get("type")
        if kind == "text_delta":
            return [_chunk(state, {"content": delta.get("text") or ""})]
        if kind == "thinking_delta":
            return [_chunk(state, {"reasoning_content": delta.get("thinking") or ""})]
        if kind == "input_json_delta":
            piece = delta.get("partial_json") or ""
            index = data.get("index")
            if not piece:
                return []
            if index is not None and index == state.extra.get("json_block"):
                return [_chunk(state, {"content": piece})]
            position = state.extra.get("tools", {}).get(index)
            if position is None:
                return []  # a server tool's input (web search ...): not the caller's tool call
            return [_chunk(state, {"tool_calls": [{"index": position, "function": {"arguments": piece}}]})]
        return []  # signature_delta, citations_delta: nothing in OpenAI's chunk shape

    # -- errors ------------------------------------------------------------

    def map_error(self, call: Call, status: int, body: bytes, headers: dict[str, str]) -> PolyrelayError:
        message, _code, _param, parsed = error_message_from_body(body)
        error = parsed.get("error") if isinstance(parsed, dict) else None
        kind = error.get("type") if isinstance(error, dict) else None
        fields = dict(llm_provider=self.name, model=call.model, body=parsed, headers=headers,
                      code=str(kind) if kind else None, secrets=call.creds.secrets())
        message = message or f"anthropic answered HTTP {status}"
        if status in (400, 413):
            lowered = message.lower()
            if any(m in lowered for m in _CONTEXT_WINDOW_MARKERS):
                return ContextWindowExceededError(message, status_code=400, **fields)
            if any(m in lowered for m in _CONTENT_POLICY_MARKERS):
                return ContentPolicyViolationError(message, status_code=400, **fields)
        return error_for_status(status, message, **fields)


# -- request helpers ---------------------------------------------------------


def messages_url(base: str) -> str:
    """Accept an api_base with or without the ``/v1`` or ``/v1/messages`` tail."""
    if base.endswith("/v1/messages"):
        return base
    if base.endswith("/v1"):
        return base + "/messages"
    return base + "/v1/messages"


def convert_messages(call: Call, messages: list[dict[str, Any]]) -> tuple[Any, list[dict[str, Any]]]:
    """OpenAI messages -> (Anthropic ``system``, Anthropic ``messages``)."""
    system: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []
    for message in messages:
        role = message.get("role")
        if role in ("system", "developer"):
            system.extend(_with_cache_control(_content_blocks(call, message.get("content")), message))
            continue
        if role == "tool":
            result: dict[str, Any] = {"type": "tool_result", "tool_use_id": message.get("tool_call_id")}
            content = message.get("content")
            result["content"] = content if isinstance(content, str) else _content_blocks(call, content)
            blocks, role = _with_cache_control([result], message), "user"
        elif role == "assistant":
            blocks = [*(message.get("thinking_blocks") or []), *_content_blocks(call, message.get("content"))]
            blocks.extend(_tool_use_block(call, tc) for tc in message.get("tool_calls") or [])
            blocks = _with_cache_control(blocks, message)
        else:
            blocks, role = _with_cache_control(_content_blocks(call, message.get("content")), message), "user"
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)  # Anthropic wants roles to alternate
        else:
            turns.append({"role": role, "content": blocks})
    for turn in turns:
        turn["content"] = _simplest(turn["content"])
    return _simplest(system) if system else None, turns


def _simplest(blocks: list[dict[str, Any]]) -> Any:
    """One plain text block reads best as a string; anything richer stays a list."""
    if len(blocks) == 1 and blocks[0].get("type") == "text" and set(blocks[0]) == {"type", "text"}:
        return blocks[0]["text"]
    return blocks


def _with_cache_control(blocks: list[dict[str, Any]], message: dict[str, Any]) -> list[dict[str, Any]]:
    """A message-level ``cache_control`` marks the end of that message: its last block."""
    marker = message.get("cache_control")
    if marker and blocks:
        blocks[-1] = {**blocks[-1], "cache_control": marker}
    return blocks


def _content_blocks(call: Call, content: Any) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    blocks = []
    for part in content:
        if isinstance(part, str):
            part = {"type": "text", "text": part}
        block = _content_block(call, part)
        if block is not None:
            blocks.append(block)
    return blocks


def _content_block(call: Call, part: dict[str, Any]) -> dict[str, Any] | None:
    kind = part.get("type")
    if kind == "text":
        if not part.get("text"):
            return None  # Anthropic rejects empty text blocks
        block: dict[str, Any] = {"type": "text", "text": part["text"]}
    elif kind == "image_url":
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, dict) else image
        block = _source_block(call, "image", str(url or ""))
    elif kind == "file":
        file = part.get("file") or {}
        if not file.get("file_data"):
            return dict(part)  # a file id: nothing to translate, let the provider say
        block = _source_block(call, "document", file["file_data"])
    else:
        return dict(part)  # already an Anthropic block (image, document, tool_result, ...)
    if part.get("cache_control"):
        block["cache_control"] = part["cache_control"]
    return block


def _source_block(call: Call, kind: str, url: str) -> dict[str, Any]:
    if not url.startswith("data:"):
        return {"type": kind, "source": {"type": "url", "url": url}}
    header, comma, data = url[5:].partition(",")
    media_type, _, encoding = header.partition(";")
    if not comma or encoding != "base64":
        raise BadRequestError("data: URLs sent to anthropic must be base64-encoded", llm_provider="anthropic",
                              model=call.model, param="messages")
    if media_type == "application/pdf":
        kind = "document"
    return {"type": kind, "source": {"type": "base64", "media_type": media_type, "data": data}}


def _tool_use_block(call: Call, tool_call: dict[str, Any]) -> dict[str, Any]:
    function = tool_call.get("function") or {}
    arguments = function.get("arguments") or "{}"
    try:
        tool_input = orjson.loads(arguments) if isinstance(arguments, str) else arguments
    except orjson.JSONDecodeError:
        raise BadRequestError(f"tool call {tool_call.get('id')!r} has arguments that are not JSON",
                              llm_provider="anthropic", model=call.model, param="messages") from None
    return {"type": "tool_use", "id": tool_call.get("id"), "name": function.get("name"), "input": tool_input}


def convert_tool(tool: dict[str, Any]) -> dict[str, Any]:
    if tool.get("type") != "function" or "function" not in tool:
        return dict(tool)  # Anthropic's own tools (computer use, web search, ...) as given
    function = tool["function"]
    converted: dict[str, Any] = {"name": function.get("name")}
    if function.get("description"):
        converted["description"] = function["description"]
    converted["input_schema"] = function.get("parameters") or {"type": "object", "properties": {}}
    marker = tool.get("cache_control") or function.get("cache_control")
    if marker:
        converted["cache_control"] = marker
    return converted


def convert_tool_choice(call: Call, choice: Any) -> dict[str, Any] | None:
    if choice is None:
        return None
    if isinstance(choice, str):
        simple = {"auto": "auto", "required": "any", "any": "any", "none": "none"}.get(choice)
        if simple is None:
            raise BadRequestError(f"tool_choice {choice!r} is not one of auto, required, none",
                                  llm_provider="anthropic", model=call.model, param="tool_choice")
        return {"type": simple}
    if choice.get("type") == "function":
        return {"type": "tool", "name": (choice.get("function") or {}).get("name")}
    return dict(choice)  # already Anthropic's shape


def response_schema(response_format: Any) -> dict[str, Any] | None:
    """The JSON schema a response_format asks for, or None for plain text."""
    if not isinstance(response_format, dict):
        return None
    kind = response_format.get("type")
    if kind == "json_schema":
        spec = response_format.get("json_schema") or {}
        return spec.get("schema") or {"type": "object"}
    if kind == "json_object":
        return {"type": "object", "additionalProperties": True}
    return None


# -- response helpers --------------------------------------------------------


def finish_reason(stop_reason: str | None, json_mode: bool = False) -> str | None:
    if stop_reason is None:
        return None
    if json_mode and stop_reason == "tool_use":
        return "stop"  # the forced JSON tool is the answer, not a call to make
    return FINISH_REASONS.get(stop_reason, "stop")


def convert_usage(raw: dict[str, Any] | None) -> dict[str, Any] | None:
    """Anthropic usage -> OpenAI usage with the cache classes kept beside it.

    Anthropic's ``input_tokens`` counts only the uncached part of the prompt;
    prompt_tokens here counts all of it, as OpenAI does."""
    if not raw:
        return None
    uncached = count(raw.get("input_tokens"), "anthropic", "input_tokens")
    written = count(raw.get("cache_creation_input_tokens"), "anthropic", "cache_creation_input_tokens")
    read = count(raw.get("cache_read_input_tokens"), "anthropic", "cache_read_input_tokens")
    output = count(raw.get("output_tokens"), "anthropic", "output_tokens")
    prompt = uncached + written + read
    usage: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": output,
        "total_tokens": prompt + output,
        "prompt_tokens_details": {"cached_tokens": read},
        "cache_creation_input_tokens": written,
        "cache_read_input_tokens": read,
        # LiteLLM's documented names for the same two counts.
        "_cache_creation_input_tokens": written,
        "_cache_read_input_tokens": read,
    }
    if raw.get("cache_creation"):
        usage["cache_creation"] = raw["cache_creation"]  # 5-minute vs 1-hour writes: priced differently
    if raw.get("server_tool_use"):
        usage["server_tool_use"] = raw["server_tool_use"]  # web searches Anthropic ran: billed per search
    return usage


def _chunk(state: StreamState, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": state.id,
        "object": "chat.completion.chunk",
        "created": state.created or now(),
        "model": state.model or state.call.model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()
