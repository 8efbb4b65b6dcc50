"""``mock/``: an in-process OpenAI-protocol server, for demos, tests, load
tests and fault drills. No network, deterministic, real token counts.

It answers through the same pipeline as a real provider (request built,
"sent" through the transport, parsed by the OpenAI adapter), so what works
on ``mock/`` works on the real thing. Behaviour is set by parameters that
never leave the process:

- ``mock_response="text"``: answer with exactly this text;
- ``mock_status=429``: fail with that HTTP status and OpenAI's error body;
- ``mock_delay=0.2``: seconds to wait before answering;
- ``mock_token_delay=0.01``: seconds between streamed tokens;
- ``mock_tool_calls=[...]``: tool calls in the answer;
- ``n=3``: that many choices.

Without ``mock_response`` the answer is built from the last user message.
The rest of LiteLLM's mock family (errors, timeouts, answers given whole)
is read in mocking.py, which also serves any model with ``mock_response``.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import struct
from typing import Any, AsyncIterator

import orjson

from .. import mocking, tokens
from ..types import new_id, now
from .base import CHAT, EMBEDDING, MODERATION, TEXT, Call, HTTPRequest, StreamEvent
from .openai import OpenAIAdapter, OpenAICompatible

MOCK_OPTIONS = ("mock_response", "mock_status", "mock_delay", "mock_token_delay", "mock_tool_calls")
EMBEDDING_DIMENSIONS = 16
MAX_CHOICES = 128  # OpenAI's own limit on n
_FLAG_WORDS = {"violence": ("kill", "attack"), "hate": ("hate",), "harassment": ("idiot", "stupid")}
_MODERATION_CATEGORIES = (
    "harassment", "harassment/threatening", "hate", "hate/threatening", "self-harm",
    "self-harm/instructions", "self-harm/intent", "sexual", "sexual/minors", "violence", "violence/graphic",
)


class LocalReply:
    """What an in-process handler answers: a status, headers and a body or event stream."""

    def __init__(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None,
                 events: AsyncIterator[StreamEvent] | None = None) -> None:
        self.status = status
        self.body = body
        self.headers = headers or {}
        self.events = events


class MockAdapter(OpenAIAdapter):
    def __init__(self) -> None:
        super().__init__(OpenAICompatible("mock", "mock://local", key_required=False,
                                          kinds=frozenset({CHAT, TEXT, EMBEDDING, MODERATION})))

    def build_request(self, call: Call) -> HTTPRequest:
        request = super().build_request(call)
        request.local = lambda req: serve(call, req)
        return request


async def serve(call: Call, request: HTTPRequest) -> LocalReply:
    opts = call.options
    await tokens.preload(call.model)  # counts below; the first call loads the table off the loop
    if opts.get("mock_delay"):
        await asyncio.sleep(float(opts["mock_delay"]))
    status = int(opts.get("mock_status") or 200)
    if status >= 400:
        return _error_reply(status)
    body = request.json
    if call.kind == EMBEDDING:
        return _json_reply(_embedding(call.model, body["input"], opts.get("mock_response")))
    if call.kind == MODERATION:
        return _json_reply(_moderation(call.model, body["input"]))
    if call.kind == CHAT:
        canned = mocking.canned_completion(opts.get("mock_response"), call.model)
        if canned is not None:
            return _canned_reply(call, body, canned)
    prompt_tokens, reply = _prompt_and_reply(call, body)
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
    enc = tokens.encoding_for(call.model)
    reply_tokens = enc.encode(reply, disallowed_special=())
    finish = "stop"
    if max_tokens and len(reply_tokens) > int(max_tokens):
        reply_tokens, finish = reply_tokens[: int(max_tokens)], "length"
    calls = mocking.tool_calls(opts.get("mock_tool_calls")) if call.kind == CHAT else []
    if calls:
        finish = "tool_calls"
    n = min(MAX_CHOICES, max(1, int(body.get("n") or 1)))
    generated = len(reply_tokens) + sum(tokens.count_text(c["function"]["name"] or "", call.model)
                                        + tokens.count_text(c["function"]["arguments"], call.model) for c in calls)
    usage = {"prompt_tokens": prompt_tokens, "completion_tokens": n * generated,
             "total_tokens": prompt_tokens + n * generated,
             "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0}}
    if call.stream:
        return LocalReply(200, headers={"content-type": "text/event-stream"},
                          events=_stream(call, body, enc, reply_tokens, finish, usage, calls, n))
    text = enc.decode(reply_tokens)
    if call.kind == TEXT:
        choices = [{"index": i, "text": text, "logprobs": None, "finish_reason": finish} for i in range(n)]
        return _json_reply({"id": new_id("cmpl"), "object": "text_completion", "created": now(),
                            "model": call.model, "choices": choices, "usage": usage})
    message: dict[str, Any] = {"role": "assistant", "content": text if (text or not calls) else None}
    if calls:
        message["tool_calls"] = calls
    choices = [{"index": i, "message": dict(message), "finish_reason": finish, "logprobs": None} for i in range(n)]
    return _json_reply({"id": new_id("chatcmpl"), "object": "chat.completion", "created": now(),
                        "model": call.model, "choices": choices, "usage": usage, "system_fingerprint": None})


def _canned_reply(call: Call, body: dict[str, Any], data: dict[str, Any]) -> LocalReply:
    """A whole answer given as ``mock_response``: as it is, with usage counted if it has none."""
    if not data.get("usage"):
        prompt = tokens.count_messages(body.get("messages") or [], call.model)
        completion = sum(tokens.count_text(c["message"].get("content") or "", call.model) for c in data["choices"])
        data["usage"] = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
    if not call.stream:
        return _json_reply(data)

    async def events() -> AsyncIterator[StreamEvent]:
        for chunk in mocking.chunks_from_completion(data):
            yield StreamEvent(orjson.dumps(chunk).decode())
        if (body.get("stream_options") or {}).get("include_usage"):
            yield StreamEvent(orjson.dumps({"id": data["id"], "object": "chat.completion.chunk",
                                            "created": data["created"], "model": data["model"], "choices": [],
                                            "usage": data["usage"]}).decode())
        yield StreamEvent("[DONE]")

    return LocalReply(200, headers={"content-type": "text/event-stream"}, events=events())


def _prompt_and_reply(call: Call, body: dict[str, Any]) -> tuple[int, str]:
    if call.kind == TEXT:
        prompt = body.get("prompt") or ""
        prompt = prompt if isinstance(prompt, str) else " ".join(map(str, prompt))
        last = prompt
        prompt_tokens = tokens.count_text(prompt, call.model)
    else:
        messages = body.get("messages") or []
        users = [m for m in messages if m.get("role") == "user"]
        last = tokens.content_text(users[-1].get("content")) if users else ""
        prompt_tokens = tokens.count_messages(messages, call.model)
    reply = call.options.get("mock_response")
    if reply is None and call.options.get("mock_tool_calls"):
        reply = ""  # a tool call answer has no text, as OpenAI's
    if reply is None:
        reply = f"This is a mock response to: {last}" if last else "This is a mock response."
    return prompt_tokens, str(reply)


async def _stream(call: Call, body: dict[str, Any], enc, reply_tokens: list[int], finish: str, usage: dict,
                  calls: list[dict[str, Any]], n: int) -> AsyncIterator[StreamEvent]:
    ident, created, delay = new_id("chatcmpl"), now(), float(call.options.get("mock_token_delay") or 0)
    text_kind = call.kind == TEXT

    def chunk(delta_text: str | None, finish_reason: str | None, first: bool = False,
              tool_calls: list[dict[str, Any]] | None = None) -> StreamEvent:
        choices = []
        for index in range(n):
            if text_kind:
                choices.append({"index": index, "text": delta_text or "", "logprobs": None,
                                "finish_reason": finish_reason})
                continue
            delta: dict[str, Any] = {"role": "assistant"} if first else {}
            if delta_text is not None:
                delta["content"] = delta_text
            if tool_calls:
                delta["tool_calls"] = tool_calls
            choices.append({"index": index, "delta": delta, "finish_reason": finish_reason, "logprobs": None})
        obj = "text_completion" if text_kind else "chat.completion.chunk"
        return StreamEvent(orjson.dumps({"id": ident, "object": obj, "created": created, "model": call.model,
                                          "choices": choices}).decode())

    mocked = call.options.get("mock_response")
    if isinstance(mocked, str) and mocked.startswith(mocking.STREAMING_ERROR):
        # LiteLLM's drill: the stream fails on its first read, as an overloaded provider's does.
        error = {"message": "This is a mock error raised mid-stream", "type": "overloaded_error",
                 "code": mocking.STREAMING_ERROR_STATUS}
        yield StreamEvent(orjson.dumps({"error": error}).decode())
        return
    if not text_kind:
        yield chunk("", None, first=True)
    pending = b""
    for token_bytes in enc.decode_tokens_bytes(reply_tokens):
        pending += token_bytes
        try:
            piece = pending.decode("utf-8")
        except UnicodeDecodeError:
            continue  # a character split across tokens: wait for the rest
        pending = b""
        if delay:
            await asyncio.sleep(delay)
        yield chunk(piece, None)
    if calls:
        yield chunk(None, None, tool_calls=[{"index": i, **c} for i, c in enumerate(calls)])
    yield chunk(None if not text_kind else "", finish)
    if (body.get("stream_options") or {}).get("include_usage"):
        yield StreamEvent(orjson.dumps({"id": ident, "object": "chat.completion.chunk", "created": created,
                                        "model": call.model, "choices": [], "usage": usage}).decode())
    yield StreamEvent("[DONE]")


def _vector(text: str, dimensions: int) -> list[float]:
    digest = b""
    counter = 0
    while len(digest) < dimensions * 4:
        digest += hashlib.sha256(f"{counter}:{text}".encode()).digest()
        counter += 1
    raw = [v / 2**31 for v in struct.unpack(f"<{dimensions}i", digest[: dimensions * 4])]
    norm = math.sqrt(sum(v * v for v in raw)) or 1.0
    return [v / norm for v in raw]


def _as_list(value: Any) -> list[str]:
    if isinstance(value, list):
        return [v if isinstance(v, str) else str(v) for v in value]
    return [str(value)]


def _embedding(model: str, inputs: Any, given: Any = None) -> dict[str, Any]:
    items = _as_list(inputs)
    if isinstance(given, list) and given:
        # embedding(mock_response=[0.1, ...]): that vector for every input
        # (or, given a list of vectors, one per input in turn).
        vectors = given if isinstance(given[0], list) else [given]
        data = [{"object": "embedding", "index": i, "embedding": [float(v) for v in vectors[i % len(vectors)]]}
                for i in range(len(items))]
    else:
        data = [{"object": "embedding", "index": i, "embedding": _vector(text, EMBEDDING_DIMENSIONS)}
                for i, text in enumerate(items)]
    used = sum(tokens.count_text(t, model) for t in items)
    return {"object": "list", "data": data, "model": model, "usage": {"prompt_tokens": used, "total_tokens": used}}


def _moderation(model: str, inputs: Any) -> dict[str, Any]:
    results = []
    for text in _as_list(inputs):
        lowered = text.lower()
        categories = {c: False for c in _MODERATION_CATEGORIES}
        for category, words in _FLAG_WORDS.items():
            categories[category] = any(w in lowered for w in words)
        scores = {c: (0.9 if flagged else 1e-5) for c, flagged in categories.items()}
        results.append({"flagged": any(categories.values()), "categories": categories, "category_scores": scores})
    return {"id": new_id("modr"), "model": model, "results": results}


def _json_reply(data: dict[str, Any]) -> LocalReply:
    return LocalReply(200, orjson.dumps(data), {"content-type": "application/json"})


def _error_reply(status: int) -> LocalReply:
    kinds = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
             404: "not_found_error", 429: "rate_limit_error"}
    body = {"error": {"message": f"mock provider failing with status {status}, as configured",
                      "type": kinds.get(status, "api_error"), "param": None, "code": str(status)}}
    headers = {"content-type": "application/json"}
    if status == 429:
        headers["retry-after"] = "0"
    return LocalReply(status, orjson.dumps(body), headers)
