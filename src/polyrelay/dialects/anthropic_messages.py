"""Anthropic's Messages API in: request -> chat call, chat answer -> Message.

Both directions keep what the chat core carries through to an Anthropic
deployment unchanged: ``cache_control`` on blocks, messages and tools,
``thinking`` (the param, and assistant thinking blocks as
``thinking_blocks``), images and PDFs (as data URLs, which
``providers/anthropic.py`` turns back into the same base64 blocks), and any
Anthropic block the chat format has no name for (passed as given).

Usage: the chat core's ``prompt_tokens`` counts the whole prompt; Anthropic's
``input_tokens`` counts only the uncached part, with cache reads and writes
beside it — the same split ``providers/anthropic.py`` undoes on the way in.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson

from ..errors import BadRequestError
from ..params import CORE_ARGS

# Request fields with the same name and meaning in a chat call.
_SAME = ("model", "max_tokens", "temperature", "top_p", "stream")
# Fields of the chat call that are the gateway's or the core's own (keys, retries,
# fallbacks, mocks, ...): they ride along as in a chat body. Every other field
# Anthropic defined (thinking, top_k, output_config, context_management, ...) goes
# to an Anthropic deployment as given and is left out for other providers.
_OURS = frozenset({*CORE_ARGS, "user", "user_config", "guardrails", "cache", "mock_status", "mock_delay",
                   "mock_token_delay"})

STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use",
                "function_call": "tool_use", "content_filter": "refusal"}

# polyrelay error type (OpenAI's names) and HTTP status -> Anthropic's error type.
ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 402: "billing_error",
               403: "permission_error", 404: "not_found_error", 413: "request_too_large",
               429: "rate_limit_error", 504: "timeout_error", 529: "overloaded_error"}


def _bad(message: str, param: str = "messages") -> BadRequestError:
    return BadRequestError(message, param=param, code="invalid_request_error")


# -- request -------------------------------------------------------------------


def to_chat(body: dict[str, Any], beta: str | None = None) -> dict[str, Any]:
    """An Anthropic Messages request body -> a chat completions body (new dict).
    ``beta``: the request's ``anthropic-beta`` header, for an Anthropic deployment."""
    messages = body.get("messages")
    if not isinstance(messages, list):
        raise _bad("messages: Field required" if messages is None else "messages: must be a list")
    if body.get("max_tokens") is None:
        raise _bad("max_tokens: Field required", "max_tokens")
    chat: dict[str, Any] = {k: body[k] for k in _SAME if k in body}
    system = body.get("system")
    out: list[dict[str, Any]] = []
    if system:
        out.append({"role": "system", "content": system if isinstance(system, str) else _parts(system)})
    for i, message in enumerate(messages):
        # Claude Code also puts "system" turns between the others (mid-conversation instructions).
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant", "system"):
            raise _bad(f"messages.{i}: each message needs role 'user', 'assistant' or 'system'")
        out.extend(_message(message))
    chat["messages"] = out
    if body.get("stop_sequences"):
        chat["stop"] = body["stop_sequences"]
    tools = body.get("tools")
    if tools:
        chat["tools"] = [_tool(t) for t in tools]
    choice = body.get("tool_choice")
    if isinstance(choice, dict):
        kind = choice.get("type")
        if kind == "tool":
            chat["tool_choice"] = {"type": "function", "function": {"name": choice.get("name")}}
        elif kind in ("auto", "any", "none"):
            chat["tool_choice"] = {"auto": "auto", "any": "required", "none": "none"}[kind]
        if choice.get("disable_parallel_tool_use"):
            chat["parallel_tool_calls"] = False
    metadata = body.get("metadata")
    native: dict[str, Any] = {}
    if isinstance(metadata, dict):
        chat["metadata"] = metadata  # kept in logs and spend records, as a chat call's metadata
        native["metadata"] = metadata  # and Anthropic's own (user_id), for an Anthropic deployment
    for key, value in body.items():
        if key in _HANDLED:
            continue
        if key in _OURS:
            chat[key] = value
        else:
            native[key] = value
    if native or beta:
        chat["native_params"] = {"anthropic": {"body": native,
                                               "headers": {"anthropic-beta": beta} if beta else {}}}
    if chat.get("stream"):
        chat["stream_options"] = {"include_usage": True}
    return chat


_HANDLED = frozenset({"messages", "system", "stop_sequences", "tools", "tool_choice", "metadata", *_SAME})


def _message(message: dict[str, Any]) -> list[dict[str, Any]]:
    content = message.get("content")
    if isinstance(content, str) or message["role"] == "system":
        return [{"role": message["role"], "content": content if isinstance(content, str) else _parts(content)}]
    if not isinstance(content, list):
        raise _bad("messages: content must be a string or a list of blocks")
    if message["role"] == "assistant":
        return [_assistant(content)]
    # A user turn: tool results become tool messages (first, as they answer the
    # previous assistant turn); the rest stays one user message.
    out: list[dict[str, Any]] = []
    rest: list[dict[str, Any]] = []
    for block in content:
        if block.get("type") == "tool_result":
            out.append(_tool_result(block))
        else:
            rest.append(block)
    if rest:
        out.append({"role": "user", "content": _parts(rest)})
    return out


def _assistant(blocks: list[dict[str, Any]]) -> dict[str, Any]:
    texts: list[dict[str, Any]] = []
    calls: list[dict[str, Any]] = []
    thinking: list[dict[str, Any]] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "tool_use":
            calls.append({"id": block.get("id"), "type": "function",
                          "function": {"name": block.get("name"),
                                       "arguments": orjson.dumps(block.get("input") or {}).decode()}})
        elif kind in ("thinking", "redacted_thinking"):
            thinking.append(block)
        else:
            texts.append(block)
    message: dict[str, Any] = {"role": "assistant", "content": _parts(texts) if texts else None}
    if calls:
        message["tool_calls"] = calls
    if thinking:
        message["thinking_blocks"] = thinking
        message["reasoning_content"] = "".join(b.get("thinking") or "" for b in thinking)
    return message


def _tool_result(block: dict[str, Any]) -> dict[str, Any]:
    content = block.get("content")
    if isinstance(content, list):
        parts = _parts(content)
        # Plain text reads best (and every provider takes a string); richer results stay parts.
        content = "".join(p["text"] for p in parts) if all(p.get("type") == "text" for p in parts) else parts
    text = content if content is not None else ""
    if block.get("is_error") and isinstance(text, str):
        text = "Error: " + text  # chat has no error flag on a tool result; say it in the text
    message: dict[str, Any] = {"role": "tool", "tool_call_id": block.get("tool_use_id"), "content": text}
    if block.get("cache_control"):
        message["cache_control"] = block["cache_control"]
    return message


def _parts(blocks: list[Any]) -> list[dict[str, Any]]:
    return [_part(b) for b in blocks]


def _part(block: Any) -> dict[str, Any]:
    if isinstance(block, str):
        return {"type": "text", "text": block}
    kind = block.get("type")
    source = block.get("source") or {}
    if kind == "image" and source.get("type") == "base64":
        part: dict[str, Any] = {"type": "image_url",
                                "image_url": {"url": f"data:{source.get('media_type')};base64,{source.get('data')}"}}
    elif kind == "image" and source.get("type") == "url":
        part = {"type": "image_url", "image_url": {"url": source.get("url")}}
    elif kind == "document" and source.get("type") == "base64":
        part = {"type": "file", "file": {"file_data": f"data:{source.get('media_type')};base64,{source.get('data')}"}}
    else:
        return dict(block)  # text, and Anthropic blocks chat has no name for: as given
    if block.get("cache_control"):
        part["cache_control"] = block["cache_control"]
    return part


def _tool(tool: dict[str, Any]) -> dict[str, Any]:
    if tool.get("type") not in (None, "custom"):
        return dict(tool)  # Anthropic's server tools (web search, ...): only an Anthropic deployment knows them
    function: dict[str, Any] = {"name": tool.get("name"),
                                "parameters": tool.get("input_schema") or {"type": "object", "properties": {}}}
    if tool.get("description"):
        function["description"] = tool["description"]
    out: dict[str, Any] = {"type": "function", "function": function}
    if tool.get("cache_control"):
        out["cache_control"] = tool["cache_control"]
    return out


# -- response ------------------------------------------------------------------


def usage_from_chat(usage: dict[str, Any] | None) -> dict[str, Any]:
    usage = usage or {}
    read = int(usage.get("cache_read_input_tokens") or (usage.get("prompt_tokens_details") or {}).get("cached_tokens")
               or 0)
    written = int(usage.get("cache_creation_input_tokens") or 0)
    prompt = int(usage.get("prompt_tokens") or 0)
    return {"input_tokens": max(0, prompt - read - written), "output_tokens": int(usage.get("completion_tokens") or 0),
            "cache_creation_input_tokens": written, "cache_read_input_tokens": read}


def message_id(chat_id: Any) -> str:
    text = str(chat_id or "")
    return text if text.startswith("msg_") else "msg_" + (text.replace("chatcmpl-", "") or uuid.uuid4().hex)


def from_chat(data: dict[str, Any], model: str | None = None) -> dict[str, Any]:
    """A chat completion dict -> an Anthropic Message dict."""
    choice = (data.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    content: list[dict[str, Any]] = []
    for block in message.get("thinking_blocks") or []:
        content.append(block)
    if not message.get("thinking_blocks") and message.get("reasoning_content"):
        content.append({"type": "thinking", "thinking": message["reasoning_content"], "signature": ""})
    text = message.get("content")
    if isinstance(text, list):
        text = "".join(p.get("text") or "" for p in text if isinstance(p, dict))
    if text:
        content.append({"type": "text", "text": text})
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {}
        content.append({"type": "tool_use", "id": call.get("id") or "toolu_" + uuid.uuid4().hex[:24],
                        "name": function.get("name"), "input": _arguments(function.get("arguments"))})
    return {
        "id": message_id(data.get("id")), "type": "message", "role": "assistant",
        "model": data.get("model") or model, "content": content,
        "stop_reason": STOP_REASONS.get(choice.get("finish_reason") or "stop", "end_turn"),
        "stop_sequence": None, "usage": usage_from_chat(data.get("usage")),
    }


def _arguments(arguments: Any) -> Any:
    if isinstance(arguments, dict):
        return arguments
    try:
        value = orjson.loads(arguments or "{}")
    except orjson.JSONDecodeError:
        return {"_raw_arguments": arguments}  # the model wrote broken JSON: hand it over, not lose it
    return value if isinstance(value, dict) else {"value": value}


def error_body(status: int, message: str) -> dict[str, Any]:
    kind = ERROR_TYPES.get(status) or ("overloaded_error" if status == 503 else "api_error")
    return {"type": "error", "error": {"type": kind, "message": message}}
