"""Small conversions the non-OpenAI adapters share (Gemini, Cohere, Ollama,
Bedrock): OpenAI content parts, tool-call arguments, chunk dicts.

Kept here once so each adapter file holds only what its protocol does
differently.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson

from ..errors import BadRequestError, UnsupportedParamsError
from ..types import new_id, now
from .base import Call, StreamState


def image_url(part: dict[str, Any]) -> str:
    """The URL of an OpenAI ``image_url`` part (a string or ``{"url": ...}``)."""
    value = part.get("image_url")
    if isinstance(value, dict):
        value = value.get("url")
    return str(value or "")


def split_data_url(url: str) -> tuple[str, str] | None:
    """``(mime type, base64 data)`` of a ``data:<mime>;base64,<data>`` URL, else None."""
    if not url.startswith("data:"):
        return None
    header, sep, data = url[5:].partition(",")
    if not sep or not header.endswith(";base64"):
        return None
    return header[: -len(";base64")] or "application/octet-stream", data


def parts(content: Any) -> list[dict[str, Any]]:
    """A message's content as a list of OpenAI parts (a string is one text part)."""
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if isinstance(content, list):
        return [p if isinstance(p, dict) else {"type": "text", "text": str(p)} for p in content]
    return [{"type": "text", "text": str(content)}]


def text(content: Any) -> str:
    return "".join(p.get("text") or "" for p in parts(content) if p.get("type", "text") == "text")


def arguments_text(arguments: Any) -> str:
    """Tool-call arguments as OpenAI carries them: a JSON string."""
    if isinstance(arguments, str):
        return arguments
    return orjson.dumps(arguments if arguments is not None else {}).decode()


def arguments_object(call: Call, arguments: Any) -> Any:
    """Tool-call arguments as the providers that want an object take them."""
    if not isinstance(arguments, str):
        return arguments if arguments is not None else {}
    if not arguments.strip():
        return {}
    try:
        return orjson.loads(arguments)
    except orjson.JSONDecodeError:
        raise BadRequestError(
            f"tool call arguments are not valid JSON: {arguments[:200]!r}",
            llm_provider=call.provider, model=call.model, param="messages",
        ) from None


def call_id() -> str:
    """An id for a tool call the provider did not name (OpenAI clients need one)."""
    return "call_" + uuid.uuid4().hex[:24]


def stop_list(stop: Any) -> list[str]:
    if stop is None:
        return []
    return [stop] if isinstance(stop, str) else list(stop)


def max_tokens(params: dict[str, Any]) -> Any:
    value = params.get("max_completion_tokens")
    return value if value is not None else params.get("max_tokens")


def unsupported(call: Call, param: str, detail: str) -> UnsupportedParamsError:
    return UnsupportedParamsError(f"{call.provider} does not support {param} {detail}",
                                  llm_provider=call.provider, model=call.model, param=param)


def passthrough(params: dict[str, Any], consumed: frozenset[str]) -> dict[str, Any]:
    """Provider-specific params the caller gave: sent on as given."""
    return {k: v for k, v in params.items() if k not in consumed}


def response(call: Call, choices: list[dict[str, Any]], usage: dict[str, Any] | None, *,
             id: str | None = None, model: str | None = None) -> dict[str, Any]:
    return {"id": id or new_id("chatcmpl"), "object": "chat.completion", "created": now(),
            "model": model or call.model, "choices": choices, "usage": usage}


def chunk(state: StreamState, delta: dict[str, Any], finish_reason: str | None = None,
          index: int = 0) -> dict[str, Any]:
    """One OpenAI chunk; the first delta of each choice carries the role."""
    if state.id is None:
        state.id = new_id("chatcmpl")
    if state.created is None:
        state.created = now()
    roles = state.extra.setdefault("role_sent", set())
    if index not in roles:
        roles.add(index)
        delta = {"role": "assistant", **delta}
    return {"id": state.id, "object": "chat.completion.chunk", "created": state.created,
            "model": state.model or state.call.model,
            "choices": [{"index": index, "delta": delta, "finish_reason": finish_reason, "logprobs": None}]}


def text_only(call: Call, content: Any) -> str:
    """A message's text, for prompt-based protocols: a part that is not text (an image)
    is refused by name rather than dropped."""
    for part in parts(content):
        kind = part.get("type", "text")
        if kind != "text":
            raise BadRequestError(f"{call.provider} takes text prompts only: content parts of type {kind!r} "
                                  "cannot be sent", llm_provider=call.provider, model=call.model, param="messages")
    return text(content)
