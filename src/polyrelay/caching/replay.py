"""Stored answers back into the caller's shape, and answers into storable form.

An entry is the OpenAI wire dict of the whole answer (chat, text
completion), or one ``{"embedding": [...]}`` per embedding input item. A
hit is answered as the caller asked: the response object (or the wire dict
for the gateway), or a stream of chunks rebuilt from it when ``stream=True``
(with the usage chunk when ``stream_options.include_usage`` is set). Its
``_hidden_params`` say ``cache_hit: True`` and cost 0.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable

from ..providers.base import CHAT, EMBEDDING, TEXT
from ..types import (EmbeddingResponse, ModelResponse, ModelResponseStream, TextCompletionResponse, Usage,
                     WireResponse)

log = logging.getLogger("polyrelay.cache")
RESPONSE_TYPES = {CHAT: ModelResponse, TEXT: TextCompletionResponse, EMBEDDING: EmbeddingResponse}


def plain(result: Any) -> dict[str, Any]:
    return dict(result) if isinstance(result, dict) else result.model_dump()


def storable(result: Any) -> dict[str, Any]:
    """The answer without per-call fields (``_response_ms``)."""
    return {k: v for k, v in plain(result).items() if not k.startswith("_")}


def is_stream(result: Any) -> bool:
    return hasattr(result, "next_batch") or hasattr(result, "__aiter__")


def hit_hidden(key: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"cache_hit": True, "cache_key": key, "response_cost": 0.0, "model_id": None,
            "custom_llm_provider": None, "api_base": None, "_response_ms": 0.0, "model": data.get("model")}


def answer(kind: str, data: dict[str, Any], key: str, kwargs: dict[str, Any], wire: bool) -> Any:
    if kwargs.get("stream"):
        options = kwargs.get("stream_options")
        include_usage = isinstance(options, dict) and bool(options.get("include_usage"))
        return CachedStream(kind, data, hit_hidden(key, data), include_usage)
    return _respond(kind, data, hit_hidden(key, data), wire)


def _respond(kind: str, data: dict[str, Any], hidden: dict[str, Any], wire: bool) -> Any:
    response = WireResponse(data) if wire else RESPONSE_TYPES[kind].from_dict(data)
    response._hidden_params = hidden
    response._response_ms = 0.0
    return response


def embedding_answer(model: str, items: list[dict[str, Any]], key: str, wire: bool) -> Any:
    data = {"object": "list", "model": model, "usage": {"prompt_tokens": 0, "total_tokens": 0},
            "data": [{"object": "embedding", "index": i, "embedding": item.get("embedding")}
                     for i, item in enumerate(items)]}
    return _respond(EMBEDDING, data, hit_hidden(key, data), wire)


def merge_embeddings(result: Any, data: dict[str, Any], stored: list[Any], missing: list[int],
                     vectors: list[dict[str, Any]]) -> Any:
    """The whole batch in order: stored vectors where they were, the provider's for the rest."""
    rows: list[Any] = [None] * len(stored)
    for i, item in enumerate(stored):
        if item is not None:
            rows[i] = {"object": "embedding", "index": i, "embedding": item.get("embedding")}
    for i, row in zip(missing, vectors):
        rows[i] = {**row, "index": i}
    merged = {**data, "data": rows}
    hidden = dict(getattr(result, "_hidden_params", None) or {})
    hidden["cached_items"] = len(stored) - len(missing)
    out = WireResponse(merged) if isinstance(result, dict) else EmbeddingResponse.from_dict(merged)
    out._hidden_params = hidden
    out._response_ms = getattr(result, "_response_ms", None)
    return out


def chunks_of(kind: str, data: dict[str, Any], include_usage: bool) -> list[dict[str, Any]]:
    """A whole answer as the chunks a provider would have streamed: the
    content per choice, then the finish reasons, then (if asked) the usage."""
    base = {"id": data.get("id"), "created": data.get("created"), "model": data.get("model")}
    choices = data.get("choices") or []
    if kind == TEXT:
        out = [{**base, "object": "text_completion",
                "choices": [{"index": c.get("index", 0), "text": c.get("text") or "", "logprobs": None,
                             "finish_reason": c.get("finish_reason")} for c in choices]}]
    else:
        base = {**base, "object": "chat.completion.chunk", "system_fingerprint": data.get("system_fingerprint")}
        first = []
        for c in choices:
            message = c.get("message") or {}
            delta = {"role": message.get("role") or "assistant", "content": message.get("content")}
            if message.get("tool_calls"):
                delta["tool_calls"] = [{**call, "index": i} for i, call in enumerate(message["tool_calls"])]
            first.append({"index": c.get("index", 0), "delta": delta, "logprobs": None, "finish_reason": None})
        last = [{"index": c.get("index", 0), "delta": {}, "logprobs": None,
                 "finish_reason": c.get("finish_reason") or "stop"} for c in choices]
        out = [{**base, "choices": first, "usage": None}, {**base, "choices": last, "usage": None}]
    if include_usage:
        out.append({**base, "choices": [], "usage": data.get("usage")})
    return out


def assemble(kind: str, chunks: list[dict[str, Any]]) -> dict[str, Any]:
    """A whole answer from its streamed chunks, as plain dicts (what a hit is
    replayed from): text, tool calls merged by index, the finish reasons."""
    first = chunks[0]
    slots: dict[int, dict[str, Any]] = {}
    for chunk in chunks:
        for choice in chunk.get("choices") or ():
            slot = slots.setdefault(choice.get("index", 0), {"text": [], "role": None, "tools": {}, "finish": None})
            if choice.get("finish_reason"):
                slot["finish"] = choice["finish_reason"]
            if kind == TEXT:
                slot["text"].append(choice.get("text") or "")
                continue
            delta = choice.get("delta") or {}
            slot["role"] = slot["role"] or delta.get("role")
            if delta.get("content"):
                slot["text"].append(delta["content"])
            for call in delta.get("tool_calls") or ():
                tool = slot["tools"].setdefault(call.get("index", 0), {"id": None, "type": "function",
                                                                      "function": {"name": "", "arguments": ""}})
                tool["id"] = call.get("id") or tool["id"]
                function = call.get("function") or {}
                tool["function"]["name"] += function.get("name") or ""
                tool["function"]["arguments"] += function.get("arguments") or ""
    base = {"id": first.get("id"), "created": first.get("created"), "model": first.get("model")}
    if kind == TEXT:
        return {**base, "object": "text_completion",
                "choices": [{"index": i, "text": "".join(slot["text"]), "logprobs": None,
                             "finish_reason": slot["finish"]} for i, slot in sorted(slots.items())]}
    choices = []
    for i, slot in sorted(slots.items()):
        message: dict[str, Any] = {"role": slot["role"] or "assistant", "content": "".join(slot["text"]) or None}
        if slot["tools"]:
            message["tool_calls"] = [tool for _, tool in sorted(slot["tools"].items())]
        choices.append({"index": i, "message": message, "finish_reason": slot["finish"], "logprobs": None})
    return {**base, "object": "chat.completion", "system_fingerprint": first.get("system_fingerprint"),
            "choices": choices}


class CachedStream:
    """A hit replayed as a stream: the same interface the gateway's relay and
    SDK callers use on a live ``CompletionStream``."""

    def __init__(self, kind: str, data: dict[str, Any], hidden: dict[str, Any], include_usage: bool) -> None:
        self._kind = kind
        self._data = data
        self._chunks = chunks_of(kind, data, include_usage)
        self._hidden_params = hidden
        usage = data.get("usage")
        self.usage = Usage.from_dict(usage) if isinstance(usage, dict) else None
        self.first_chunk_ms = 0.0
        self.ended = False
        self._callbacks: list[Callable[[Any, BaseException | None], None]] = []

    response_cost = 0.0

    @property
    def _generated(self) -> list[str]:
        """The answer's text, as a live stream keeps it for the logging payload (observe/)."""
        choices = self._data.get("choices") or [{}]
        first = choices[0] if isinstance(choices[0], dict) else {}
        text = first.get("text") if self._kind == TEXT else (first.get("message") or {}).get("content")
        return [text] if isinstance(text, str) else []

    def add_done_callback(self, callback: Callable[[Any, BaseException | None], None]) -> None:
        self._callbacks.append(callback)

    def _finish(self) -> None:
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback(self, None)

    async def next_batch(self) -> list[dict[str, Any]]:
        if self.ended:
            self._finish()
            raise StopAsyncIteration
        self.ended = True
        return list(self._chunks)

    async def next_dict(self) -> dict[str, Any]:
        if not self._chunks:
            self.ended = True
            self._finish()
            raise StopAsyncIteration
        return self._chunks.pop(0)

    def __aiter__(self) -> "CachedStream":
        return self

    async def __anext__(self):
        chunk = await self.next_dict()
        obj = (TextCompletionResponse if self._kind == TEXT else ModelResponseStream).from_dict(chunk)
        obj._hidden_params = self._hidden_params
        return obj

    async def prefetch(self) -> None:
        return None

    async def aclose(self) -> None:
        self._finish()


class RecordingStream:
    """A live stream passed through unchanged, its chunks kept; when it
    finishes whole, the assembled answer is stored (``write``)."""

    def __init__(self, stream: Any, kind: str, write: Callable[[dict[str, Any]], Any]) -> None:
        self._stream = stream
        self._kind = kind
        self._chunks: list[dict[str, Any]] = []
        self._write = write
        self._tasks: set[asyncio.Task] = set()
        stream.add_done_callback(self._ended)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    def _ended(self, stream: Any, error: BaseException | None) -> None:
        if error is not None or not self._chunks:
            return  # a broken or abandoned answer is never stored
        try:
            whole = assemble(self._kind, self._chunks)
            if stream.usage is not None:
                whole["usage"] = plain(stream.usage)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError):  # an answer we cannot rebuild is not kept; the caller already has it
            log.warning("a streamed answer could not be assembled for the cache", exc_info=True)
            return
        try:
            task = asyncio.get_running_loop().create_task(self._write(whole))
        except RuntimeError:  # no loop: the process is shutting down
            return
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def __aiter__(self) -> "RecordingStream":
        return self

    async def __anext__(self):
        chunk = await self._stream.__anext__()
        self._chunks.append(chunk.model_dump())
        return chunk

    async def next_dict(self) -> dict[str, Any]:
        chunk = await self._stream.next_dict()
        self._chunks.append(chunk)
        return chunk

    async def next_batch(self) -> list[dict[str, Any]]:
        batch = await self._stream.next_batch()
        self._chunks.extend(batch)
        return batch

    async def aclose(self) -> None:
        await self._stream.aclose()
