"""Replies of fake upstreams, in each provider's real wire format.

``chat_reply`` answers an OpenAI chat request as JSON or as SSE chunks,
whichever the request asked for, so one scripted answer serves both the
streaming and the non-streaming path of the gateway."""

from __future__ import annotations

import json
from typing import Any

from fakeserver import Reply, sse

USAGE = {"prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150,
         "prompt_tokens_details": {"cached_tokens": 20}}


def chat_reply(request_body: dict[str, Any], text: str | None = None,
               tool_calls: list[dict[str, Any]] | None = None, usage: dict[str, Any] | None = None) -> Reply:
    """``tool_calls``: ``[{"id", "name", "arguments": dict}]``."""
    usage = usage or USAGE
    calls = [{"id": c["id"], "type": "function",
              "function": {"name": c["name"], "arguments": json.dumps(c["arguments"])}} for c in tool_calls or []]
    finish = "tool_calls" if calls else "stop"
    if not request_body.get("stream"):
        message = {"role": "assistant", "content": text, **({"tool_calls": calls} if calls else {})}
        return Reply(json={"id": "chatcmpl-fake1", "object": "chat.completion", "created": 1, "model": "fake-agent",
                           "choices": [{"index": 0, "message": message, "finish_reason": finish}], "usage": usage})
    base = {"id": "chatcmpl-fake1", "object": "chat.completion.chunk", "created": 1, "model": "fake-agent"}
    chunks = [{**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]}]
    if text:
        half = len(text) // 2
        for piece in (text[:half], text[half:]):
            chunks.append({**base, "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]})
    for i, call in enumerate(calls):
        arguments = call["function"]["arguments"]
        chunks.append({**base, "choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": i, "id": call["id"], "type": "function",
             "function": {"name": call["function"]["name"], "arguments": ""}}]}, "finish_reason": None}]})
        half = len(arguments) // 2
        for piece in (arguments[:half], arguments[half:]):
            chunks.append({**base, "choices": [{"index": 0, "delta": {"tool_calls": [
                {"index": i, "function": {"arguments": piece}}]}, "finish_reason": None}]})
    chunks.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
    chunks.append({**base, "choices": [], "usage": usage})
    return Reply(stream=sse(*chunks))


def last_tool_output(request_body: dict[str, Any]) -> str | None:
    """The content of the request's last message if it is a tool result."""
    messages = request_body.get("messages") or []
    if messages and messages[-1].get("role") == "tool":
        content = messages[-1].get("content")
        return content if isinstance(content, str) else json.dumps(content)
    return None


ANTHROPIC_MESSAGE = {
    "id": "msg_01XFDUDYJgAACzvnptvVoYEL", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
    "content": [{"type": "thinking", "thinking": "Paris is the capital.", "signature": "sig-abc"},
                {"type": "text", "text": "The capital is Paris."}],
    "stop_reason": "end_turn", "stop_sequence": None,
    "usage": {"input_tokens": 12, "output_tokens": 9, "cache_creation_input_tokens": 100,
              "cache_read_input_tokens": 300},
}


def anthropic_stream(text: str = "Hello there") -> list[bytes]:
    """Anthropic's SSE framing (``event:`` + ``data:``), as its docs show it."""
    events = [
        ("message_start", {"type": "message_start", "message": {
            "id": "msg_stream1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5", "content": [],
            "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": 15, "output_tokens": 1, "cache_creation_input_tokens": 0,
                      "cache_read_input_tokens": 40}}}),
        ("content_block_start", {"type": "content_block_start", "index": 0,
                                 "content_block": {"type": "thinking", "thinking": "", "signature": ""}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                 "delta": {"type": "thinking_delta", "thinking": "Let me think."}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                 "delta": {"type": "signature_delta", "signature": "sig-xyz"}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("content_block_start", {"type": "content_block_start", "index": 1,
                                 "content_block": {"type": "text", "text": ""}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 1,
                                 "delta": {"type": "text_delta", "text": text}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 1}),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                           "usage": {"output_tokens": 7}}),
        ("message_stop", {"type": "message_stop"}),
    ]
    return [f"event: {name}\ndata: {json.dumps(data)}\n\n".encode() for name, data in events]


def anthropic_reply(request_body: dict[str, Any], text: str | None = None,
                    tool_use: dict[str, Any] | None = None) -> Reply:
    """An Anthropic answer (JSON or SSE, as asked) with a text block or one ``tool_use`` block
    (``{"id", "name", "input"}``)."""
    usage = {"input_tokens": 50, "output_tokens": 12, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 30}
    block = ({"type": "tool_use", "id": tool_use["id"], "name": tool_use["name"], "input": tool_use["input"]}
             if tool_use else {"type": "text", "text": text or ""})
    stop = "tool_use" if tool_use else "end_turn"
    if not request_body.get("stream"):
        return Reply(json={"id": "msg_up1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
                           "content": [block], "stop_reason": stop, "stop_sequence": None, "usage": usage})
    start = {**block, "input": {}} if tool_use else {"type": "text", "text": ""}
    delta = ({"type": "input_json_delta", "partial_json": json.dumps(tool_use["input"])} if tool_use
             else {"type": "text_delta", "text": text or ""})
    events = [
        ("message_start", {"type": "message_start", "message": {
            "id": "msg_up1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5", "content": [],
            "stop_reason": None, "stop_sequence": None, "usage": {**usage, "output_tokens": 1}}}),
        ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": start}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None},
                           "usage": {"output_tokens": 12}}),
        ("message_stop", {"type": "message_stop"}),
    ]
    return Reply(stream=[f"event: {name}\ndata: {json.dumps(data)}\n\n".encode() for name, data in events])


def last_tool_result(request_body: dict[str, Any]) -> str | None:
    """The text of a ``tool_result`` block in the request's last (Anthropic) message."""
    messages = request_body.get("messages") or []
    content = messages[-1].get("content") if messages else None
    for block in content if isinstance(content, list) else []:
        if block.get("type") == "tool_result":
            inner = block.get("content")
            return inner if isinstance(inner, str) else json.dumps(inner)
    return None
