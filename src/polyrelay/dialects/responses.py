"""OpenAI's Responses API in: request -> chat call, chat answer -> Response.

Input items map onto chat messages: ``message`` items (roles user,
assistant, system, developer; parts ``input_text``, ``output_text``,
``input_image``, ``input_file``) become messages, ``function_call`` items
an assistant turn's ``tool_calls``, ``function_call_output`` items ``tool``
messages. ``instructions`` is the first system message. With
``previous_response_id`` the stored conversation comes first (the caller's
own earlier turns, see ``gateway/routes/responses.py``).

What chat cannot carry is said, not hidden: reasoning items (encrypted,
only the model that wrote them can read them) and hosted tools (web search,
file search, ...) are left out of a translated call, and the answer's
``metadata`` lists them under ``polyrelay_dropped``.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from ..errors import BadRequestError

_SAME = ("model", "temperature", "top_p", "stream", "user", "parallel_tool_calls", "metadata", "service_tier")
# Responses fields that only steer OpenAI-hosted state or caching; nothing to translate.
_IGNORED = ("include", "prompt_cache_key", "truncation", "client_metadata", "store", "previous_response_id",
            "instructions", "input", "tools", "tool_choice", "max_output_tokens", "reasoning", "text", "background",
            "safety_identifier", "stream_options", "top_logprobs", "max_tool_calls", "prompt_cache_retention")


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


def _bad(message: str, param: str = "input") -> BadRequestError:
    return BadRequestError(message, param=param, code="invalid_value")


# -- request -------------------------------------------------------------------


def to_chat(body: dict[str, Any], history: list[dict[str, Any]] | None = None) -> tuple[dict[str, Any], list[str]]:
    """(chat body, what was left out). ``history``: chat messages of the previous response."""
    dropped: list[str] = []
    chat: dict[str, Any] = {k: body[k] for k in _SAME if k in body and body[k] is not None}
    messages: list[dict[str, Any]] = []
    if body.get("instructions"):
        messages.append({"role": "system", "content": body["instructions"]})
    messages.extend(history or [])
    value = body.get("input")
    if value is None:
        raise _bad("Missing required parameter: 'input'.")
    if isinstance(value, str):
        messages.append({"role": "user", "content": value})
    elif isinstance(value, list):
        messages.extend(input_messages(value, dropped))
    else:
        raise _bad("'input' must be a string or a list of items.")
    chat["messages"] = messages
    if body.get("max_output_tokens") is not None:
        chat["max_tokens"] = body["max_output_tokens"]
    tools = [_tool(t, dropped) for t in body.get("tools") or []]
    if any(tools):
        chat["tools"] = [t for t in tools if t]
        choice = body.get("tool_choice")
        if isinstance(choice, str):
            chat["tool_choice"] = choice
        elif isinstance(choice, dict) and choice.get("type") == "function":
            chat["tool_choice"] = {"type": "function", "function": {"name": choice.get("name")}}
    else:
        chat.pop("parallel_tool_calls", None)  # chat refuses it without tools
    reasoning = body.get("reasoning")
    if isinstance(reasoning, dict) and reasoning.get("effort"):
        chat["reasoning_effort"] = reasoning["effort"]
    text_format = (body.get("text") or {}).get("format") if isinstance(body.get("text"), dict) else None
    if isinstance(text_format, dict) and text_format.get("type") == "json_schema":
        chat["response_format"] = {"type": "json_schema", "json_schema": {
            k: text_format[k] for k in ("name", "schema", "strict", "description") if k in text_format}}
    elif isinstance(text_format, dict) and text_format.get("type") == "json_object":
        chat["response_format"] = {"type": "json_object"}
    # The gateway's own extras (mock_response, fallbacks, ...) ride along as in a chat body.
    for key, val in body.items():
        if key not in chat and key not in _IGNORED and key not in _SAME:
            chat[key] = val
    if chat.get("stream"):
        chat["stream_options"] = {"include_usage": True}
    return chat, dropped


def input_messages(items: list[Any], dropped: list[str]) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise _bad(f"input[{i}] must be an object.")
        kind = item.get("type") or ("message" if "role" in item else None)
        if kind == "message":
            role = item.get("role")
            if role not in ("user", "assistant", "system", "developer"):
                raise _bad(f"input[{i}].role must be user, assistant, system or developer.")
            content = item.get("content")
            parts = content if isinstance(content, str) else _parts(content or [])
            if role == "assistant" and isinstance(parts, list) and all(p["type"] == "text" for p in parts):
                parts = "".join(p["text"] for p in parts)  # an earlier answer: plain text, as every provider takes it
            messages.append({"role": role, "content": parts})
        elif kind == "function_call":
            call = {"id": item.get("call_id"), "type": "function",
                    "function": {"name": item.get("name"), "arguments": item.get("arguments") or "{}"}}
            last = messages[-1] if messages else None
            if last is not None and last["role"] == "assistant":
                last.setdefault("tool_calls", []).append(call)  # a turn's text and calls: one assistant message
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            output = item.get("output")
            messages.append({"role": "tool", "tool_call_id": item.get("call_id"),
                             "content": output if isinstance(output, str) else _text_of(output)})
        elif kind in ("reasoning", "item_reference"):
            dropped.append(kind)
        else:
            raise _bad(f"input[{i}]: items of type {kind!r} cannot be sent to this model group.")
    return messages


def _text_of(parts: Any) -> str:
    if isinstance(parts, list):
        return "".join(p.get("text") or "" for p in parts if isinstance(p, dict))
    return "" if parts is None else str(parts)


def _parts(parts: list[Any]) -> list[dict[str, Any]]:
    out = []
    for part in parts:
        kind = part.get("type")
        if kind in ("input_text", "output_text", "text"):
            out.append({"type": "text", "text": part.get("text") or ""})
        elif kind == "input_image":
            url = part.get("image_url") or part.get("file_id")
            image: dict[str, Any] = {"url": url}
            if part.get("detail"):
                image["detail"] = part["detail"]
            out.append({"type": "image_url", "image_url": image})
        elif kind == "input_file":
            file = {k: part[k] for k in ("file_data", "file_id", "filename") if part.get(k)}
            out.append({"type": "file", "file": file})
        elif kind == "refusal":
            out.append({"type": "text", "text": part.get("refusal") or ""})
        else:
            raise _bad(f"content parts of type {kind!r} cannot be sent to this model group.")
    return out


def _tool(tool: dict[str, Any], dropped: list[str]) -> dict[str, Any] | None:
    if tool.get("type") != "function":
        dropped.append(f"tool:{tool.get('type')}")
        return None
    function = {"name": tool.get("name"), "parameters": tool.get("parameters") or {"type": "object", "properties": {}}}
    if tool.get("description"):
        function["description"] = tool["description"]
    if tool.get("strict") is not None:
        function["strict"] = tool["strict"]
    return {"type": "function", "function": function}


# -- response ------------------------------------------------------------------


def usage_from_chat(usage: dict[str, Any] | None) -> dict[str, Any]:
    usage = usage or {}
    prompt, output = int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
    cached = int((usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0)
    reasoning = int((usage.get("completion_tokens_details") or {}).get("reasoning_tokens") or 0)
    written = int(usage.get("cache_creation_input_tokens") or 0)
    return {"input_tokens": prompt, "input_tokens_details": {"cached_tokens": cached, "cache_write_tokens": written},
            "output_tokens": output, "output_tokens_details": {"reasoning_tokens": reasoning},
            "total_tokens": prompt + output}


def skeleton(body: dict[str, Any], response_id: str, model: str | None, dropped: list[str]) -> dict[str, Any]:
    """The Response object before any output: what ``response.created`` carries."""
    metadata = dict(body.get("metadata") or {}) if isinstance(body.get("metadata"), dict) else {}
    if dropped:
        metadata["polyrelay_dropped"] = ",".join(sorted(set(dropped)))
    return {
        "id": response_id, "object": "response", "created_at": int(time.time()), "status": "in_progress",
        "background": False, "error": None, "incomplete_details": None, "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"), "model": model or body.get("model"), "output": [],
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "previous_response_id": body.get("previous_response_id"), "reasoning": body.get("reasoning"),
        "store": body.get("store", True), "temperature": body.get("temperature"),
        "text": body.get("text") or {"format": {"type": "text"}}, "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools") or [], "top_p": body.get("top_p"), "truncation": body.get("truncation", "disabled"),
        "usage": None, "user": body.get("user"), "metadata": metadata,
    }


def message_item(text: str, status: str = "completed", item_id: str | None = None) -> dict[str, Any]:
    return {"type": "message", "id": item_id or new_id("msg"), "status": status, "role": "assistant",
            "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]}


def function_item(call_id: str, name: str, arguments: str, status: str = "completed",
                  item_id: str | None = None) -> dict[str, Any]:
    return {"type": "function_call", "id": item_id or new_id("fc"), "call_id": call_id, "name": name,
            "arguments": arguments, "status": status}


def reasoning_item(text: str, item_id: str | None = None) -> dict[str, Any]:
    return {"type": "reasoning", "id": item_id or new_id("rs"), "summary": [{"type": "summary_text", "text": text}]}


def output_from_chat(message: dict[str, Any]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    if message.get("reasoning_content"):
        items.append(reasoning_item(message["reasoning_content"]))
    content = message.get("content")
    if isinstance(content, list):
        content = _text_of(content)
    if content:
        items.append(message_item(content))
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {}
        items.append(function_item(call.get("id") or new_id("call"), function.get("name") or "",
                                   function.get("arguments") or "{}"))
    return items


def finish(response: dict[str, Any], output: list[dict[str, Any]], usage: dict[str, Any] | None,
           finish_reason: str | None) -> dict[str, Any]:
    response["output"] = output
    response["usage"] = usage_from_chat(usage)
    if finish_reason == "length":
        response["status"] = "incomplete"
        response["incomplete_details"] = {"reason": "max_output_tokens"}
    elif finish_reason == "content_filter":
        response["status"] = "incomplete"
        response["incomplete_details"] = {"reason": "content_filter"}
    else:
        response["status"] = "completed"
    return response


def from_chat(data: dict[str, Any], response: dict[str, Any]) -> dict[str, Any]:
    choice = (data.get("choices") or [{}])[0]
    response["model"] = data.get("model") or response["model"]
    return finish(response, output_from_chat(choice.get("message") or {}), data.get("usage"),
                  choice.get("finish_reason"))


def output_as_chat(output: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A response's output as the chat messages a later turn continues from."""
    dropped: list[str] = []
    return input_messages([i for i in output if i.get("type") != "reasoning"], dropped)
