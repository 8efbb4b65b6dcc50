"""Chat messages as plain dicts, whatever the caller handed us.

A conversation loop appends the reply's message object as it is
(``messages.append(response.choices[0].message)``): one of our ``Message``
models, an ``openai`` SDK ``ChatCompletionMessage``, LiteLLM's, or any
pydantic model or mapping. Adapters and the transport work on dicts and
serialise with orjson, so every message becomes a dict once, at the entry
of the core.

Dicts are the common case (the gateway only ever sends dicts), so a list of
plain dicts whose ``tool_calls`` are dicts too is returned as it is: no
copy, one type check and one key lookup per message.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# The fields a request message may carry. A response message has more
# (reasoning_content, provider_specific_fields, annotations, ...) that
# providers reject when sent back; thinking_blocks stay because Anthropic
# needs them on the next turn of a tool loop with extended thinking.
REQUEST_MESSAGE_FIELDS = ("role", "content", "name", "tool_calls", "function_call", "tool_call_id", "refusal",
                          "audio", "thinking_blocks", "cache_control")


def as_message_dicts(messages: Any) -> Any:
    """``messages`` with every message (and its tool calls) as a plain dict."""
    if not isinstance(messages, list):
        if messages is None or isinstance(messages, (str, Mapping)):
            return messages  # not a list of messages: the caller's validation says so
        messages = list(messages)  # a tuple, a generator, a deque
    for message in messages:
        if type(message) is not dict or _has_objects(message):
            return [_message_dict(m) for m in messages]
    return messages


def _has_objects(message: dict[str, Any]) -> bool:
    # A dict that carries the reply's tool call objects:
    # {"role": "assistant", "tool_calls": response.choices[0].message.tool_calls}
    calls = message.get("tool_calls")
    return bool(calls) and type(calls[0]) is not dict


def _message_dict(message: Any) -> Any:
    if type(message) is dict:
        if not _has_objects(message):
            return message
        return {**message, "tool_calls": [plain(call) for call in message["tool_calls"]]}
    data = plain(message)
    if not isinstance(data, dict):
        return message  # not a message at all: let the provider's validation say so
    if hasattr(message, "model_dump") or not isinstance(message, Mapping):
        # A response object: keep the fields a request takes (None ones are
        # already gone), and content even when empty, as OpenAI returns it.
        data = {k: data[k] for k in REQUEST_MESSAGE_FIELDS if k in data}
        data.setdefault("content", None)
    if data.get("tool_calls") == []:
        del data["tool_calls"]  # OpenAI rejects an empty list
    return data


def plain(value: Any) -> Any:
    """A pydantic model, mapping or sequence of them as plain JSON values."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return plain(dump(exclude_none=True))
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    as_dict = getattr(value, "dict", None) or getattr(value, "to_dict", None)
    if callable(as_dict):  # pydantic v1 models and other SDKs' objects
        return plain(as_dict())
    return value
