"""The adapter behind ``custom_provider_map``: a registered ``CustomLLM``
handler answers in-process, the way ``mock/`` does, so its answers go
through the same parsing, usage, cost and streaming as any provider's.

The handler is user code: sync methods run in a worker thread (they may
block, or call ``polyrelay.completion`` themselves); async ones are awaited.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import sys
from typing import Any, AsyncIterator, Callable

import orjson

from .. import _sync
from ..custom_llm import CustomLLM, CustomLLMError
from ..errors import PolyrelayError
from ..types import new_id, now
from .base import CHAT, EMBEDDING, Call, HTTPRequest, StreamEvent
from .mock import LocalReply
from .openai import OpenAIAdapter, OpenAICompatible

# Fields of the built request that are not the caller's optional params.
_NOT_OPTIONAL = frozenset({"model", "messages", "input", "stream", "stream_options"})


class CustomAdapter(OpenAIAdapter):
    def __init__(self, provider: str, handler: Any) -> None:
        super().__init__(OpenAICompatible(provider, f"custom://{provider}", key_required=False,
                                          kinds=frozenset({CHAT, EMBEDDING})))
        self.handler = handler

    def build_request(self, call: Call) -> HTTPRequest:
        request = super().build_request(call)
        request.local = lambda req: self._serve(call, req)
        return request

    async def _serve(self, call: Call, request: HTTPRequest) -> LocalReply:
        body = request.json
        args = {
            "model": call.model, "api_key": call.creds.api_key, "api_base": call.creds.api_base,
            "optional_params": {k: v for k, v in body.items() if k not in _NOT_OPTIONAL},
            "litellm_params": {"custom_llm_provider": self.name, "api_key": call.creds.api_key,
                               "api_base": call.creds.api_base},
            "headers": dict(call.creds.extra_headers), "custom_prompt_dict": {}, "print_verbose": _quiet,
            "encoding": None, "logging_obj": None, "logger_fn": None, "timeout": None, "client": None,
        }
        try:
            if call.kind == EMBEDDING:
                args.update(input=body["input"], model_response=_blank("EmbeddingResponse", call.model),
                            aembedding=True)
                return _json(await self._run("aembedding", "embedding", args))
            args.update(messages=body["messages"], model_response=_blank("ModelResponse", call.model),
                        acompletion=True)
            if call.stream:
                chunks = await self._run("astreaming", "streaming", args)
                return LocalReply(200, headers={"content-type": "text/event-stream"},
                                  events=self._events(call, chunks))
            return _json(await self._run("acompletion", "completion", args))
        except CustomLLMError as exc:
            return _error(exc.status_code, exc.message)
        except PolyrelayError:
            raise  # already one of ours (a handler that calls polyrelay itself)
        except Exception as exc:  # user code failed: an upstream 500, as a provider's crash would be
            return _error(500, f"{self.name} custom handler failed: {type(exc).__name__}: {exc}")

    async def _run(self, async_name: str, sync_name: str, args: dict[str, Any]) -> Any:
        """The handler's method of the caller's kind (``completion`` for a sync
        call, ``acompletion`` for an async one), or the other one if it only
        overrides that."""
        handler = self.handler
        has_async = _overrides(handler, async_name)
        if has_async and not (_sync.called_from_sync.get() and _overrides(handler, sync_name)):
            method = getattr(handler, async_name)
            try:
                result = _call(method, args)
                return await result if inspect.isawaitable(result) else result
            except _sync.SyncCallInLoop:
                # The handler called a sync polyrelay function from async code (LiteLLM's
                # own docs example does): run it again on a loop of its own, in a thread.
                return await asyncio.to_thread(lambda: asyncio.run(_awaited(_call(method, args))))
        # Sync user code may block or call polyrelay's sync functions: a worker thread, off our loop.
        return await asyncio.to_thread(_call, getattr(handler, sync_name), args)

    async def _events(self, call: Call, chunks: Any) -> AsyncIterator[StreamEvent]:
        ident, created, usage, first = new_id("chatcmpl"), now(), None, True
        try:
            async for chunk in _aiter(chunks):
                data = chunk.model_dump() if hasattr(chunk, "model_dump") else dict(chunk)
                if "choices" not in data:  # LiteLLM's GenericStreamingChunk
                    usage = data.get("usage") or usage
                    data = _openai_chunk(data, ident, created, call.model, first)
                first = False
                yield StreamEvent(orjson.dumps(data, default=str).decode())
        except CustomLLMError as exc:
            raise self.map_error(call, exc.status_code, _error(exc.status_code, exc.message).body, {}) from exc
        if usage:
            yield StreamEvent(orjson.dumps({"id": ident, "object": "chat.completion.chunk", "created": created,
                                            "model": call.model, "choices": [], "usage": usage}).decode())
        yield StreamEvent("[DONE]")


def custom_adapter(provider: str) -> CustomAdapter | None:
    """The adapter for ``provider`` if ``polyrelay.custom_provider_map`` registers it.
    Read at call time, as LiteLLM does (users assign the list after import);
    consulted only for names that are not built-in providers."""
    package = sys.modules.get("polyrelay")
    for entry in getattr(package, "custom_provider_map", None) or ():
        if isinstance(entry, dict) and entry.get("provider") == provider and entry.get("custom_handler") is not None:
            handler = entry["custom_handler"]
            try:
                return _adapter_for(provider, handler)
            except TypeError:  # an unhashable handler: an adapter per call (cheap; nothing to cache it by)
                return CustomAdapter(provider, handler)
    return None


@functools.lru_cache(maxsize=64)  # one adapter per (name, handler); a handful in any program
def _adapter_for(provider: str, handler: Any) -> CustomAdapter:
    return CustomAdapter(provider, handler)


async def _awaited(result: Any) -> Any:
    return await result if inspect.isawaitable(result) else result


def _overrides(handler: Any, name: str) -> bool:
    method = getattr(type(handler), name, None)
    return method is not None and method is not getattr(CustomLLM, name, None)


def _call(method: Callable[..., Any], args: dict[str, Any]) -> Any:
    """Call with the keyword arguments the method accepts (all of them if it takes ``**kwargs``)."""
    return method(**_accepted(method, args))


def _accepted(method: Callable[..., Any], args: dict[str, Any]) -> dict[str, Any]:
    params = inspect.signature(method).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return args
    names = {p.name for p in params}
    return {k: v for k, v in args.items() if k in names}


async def _aiter(chunks: Any) -> AsyncIterator[Any]:
    if hasattr(chunks, "__aiter__"):
        async for chunk in chunks:
            yield chunk
        return
    iterator = iter(chunks)
    done = object()
    while True:  # a sync generator may block between chunks: pull each on a worker thread
        chunk = await asyncio.to_thread(next, iterator, done)
        if chunk is done:
            return
        yield chunk


def _openai_chunk(chunk: dict[str, Any], ident: str, created: int, model: str, first: bool) -> dict[str, Any]:
    delta: dict[str, Any] = {"role": "assistant"} if first else {}
    if chunk.get("text"):
        delta["content"] = chunk["text"]
    tool = chunk.get("tool_use")
    if tool:
        delta["tool_calls"] = [{"index": tool.get("index", 0), "id": tool.get("id"), "type": "function",
                                "function": tool.get("function") or {}}]
    finish = (chunk.get("finish_reason") or "stop") if chunk.get("is_finished") else None
    return {"id": ident, "object": "chat.completion.chunk", "created": created, "model": model,
            "choices": [{"index": chunk.get("index", 0), "delta": delta, "finish_reason": finish, "logprobs": None}]}


def _blank(kind: str, model: str) -> Any:
    """LiteLLM hands handlers an empty response to fill in (``model_response``)."""
    from .. import types

    if kind == "EmbeddingResponse":
        return types.EmbeddingResponse.from_dict({"object": "list", "data": [], "model": model})
    return types.ModelResponse.from_dict({
        "id": new_id("chatcmpl"), "object": "chat.completion", "created": now(), "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": None}, "finish_reason": "stop"}]})


def _json(result: Any) -> LocalReply:
    data = result.model_dump() if hasattr(result, "model_dump") else result
    return LocalReply(200, orjson.dumps(data, default=str), {"content-type": "application/json"})


def _error(status: int, message: str) -> LocalReply:
    body = {"error": {"message": message, "type": "api_error", "param": None, "code": str(status)}}
    return LocalReply(int(status), orjson.dumps(body), {"content-type": "application/json"})


def _quiet(*_: Any, **__: Any) -> None:
    """LiteLLM's ``print_verbose``: handlers may call it; it prints nothing."""
