"""A provider's stream as OpenAI chunks, relayed as they arrive.

The wrapper parses each event with the adapter, tracks what was generated,
and takes the provider's usage (asked for on every stream, so cost is exact
even when the caller did not ask). With ``stream_options.include_usage``
the caller gets OpenAI's extra last chunk: ``choices: []`` and the whole
request's usage; every other chunk then has ``usage: null``. A stream that
ends before the provider finished it raises, rather than passing for a
short answer.
"""

from __future__ import annotations

import time
from typing import Any, AsyncIterator, Callable

from . import usage as usage_mod
from .cost import response_cost
from .errors import APIConnectionError, APIError, PolyrelayError
from .providers.base import TEXT, Adapter, Call, StreamEvent, StreamState
from .transport import aclose_iterator
from .types import ModelResponse, ModelResponseStream, TextCompletionResponse, Usage, new_id, now


class CompletionStream:
    """Async iterator of ``ModelResponseStream`` (or text-completion) chunks."""

    def __init__(self, events: AsyncIterator[list[StreamEvent]], adapter: Adapter, call: Call, *,
                 bridge: Any, kind: str, include_usage: bool, hidden: dict[str, Any], started: float,
                 pricing: dict[str, Any] | None = None) -> None:
        self._events = events
        self._adapter = adapter
        self._call = call  # the call as sent (after any bridge)
        self._bridge = bridge
        self._kind = kind  # what the caller asked for
        self._include_usage = include_usage
        self._started = started
        self._hidden_params = hidden
        self._pricing = pricing or {}  # per-call price arguments, for the cost at the end
        self._gen = self._run_and_report()  # yields lists: the chunks made from one network read
        self._buffered: list[dict[str, Any]] = []  # a list: a deque's first block is ~0.6 KB per stream
        # The text so far, for usage when the provider sends none: its latest
        # pieces, and the earlier ones joined (see _JOIN_EVERY).
        self._pieces: list[str] = []
        self._joined: list[str] = []
        self._done_callbacks: list[Callable[["CompletionStream", BaseException | None], None]] = []
        self.usage: Usage | None = None  # the whole request's usage, once the stream ends
        self.first_chunk_ms: float | None = None
        # True once the last batch is handed out (a relay sends [DONE] with it);
        # the stream's end (usage, cost, callbacks) runs on the next pull.
        self.ended = False

    def __aiter__(self) -> "CompletionStream":
        return self

    async def __anext__(self):
        return self._make(await self.next_dict())

    async def next_dict(self) -> dict[str, Any]:
        """The next chunk as the plain dict in OpenAI's wire shape, with no
        object built. Raises ``StopAsyncIteration`` at the end, like ``__anext__``."""
        if not self._buffered:
            self._buffered.extend(await self._gen.__anext__())
        return self._buffered.pop(0)  # a batch is the few chunks of one read

    async def next_batch(self) -> list[dict[str, Any]]:
        """Every chunk that is ready, at least one, waiting only if none is:
        for relaying (the gateway writes a batch at once)."""
        if self._buffered:
            ready = self._buffered
            self._buffered = []
            return ready
        return await self._gen.__anext__()

    async def aclose(self) -> None:
        await self._gen.aclose()

    async def prefetch(self) -> None:
        """Read the first chunk now (it is still returned first). The router
        uses it so that a stream failing before its first chunk can be
        retried or fall back like any other failed call."""
        try:
            self._buffered.extend(await self._gen.__anext__())
        except StopAsyncIteration:
            pass

    def add_done_callback(self, callback: Callable[["CompletionStream", BaseException | None], None]) -> None:
        """``callback(stream, error)`` once the stream ends: finished (error
        None), failed, or closed early by the consumer (GeneratorExit)."""
        self._done_callbacks.append(callback)

    def _settle_partial(self) -> None:
        """A stream stopped early (the consumer left, or it failed) is billed
        for what was generated: counted, since the provider's usage never came."""
        measured = usage_mod.estimate(self._call, self._text())
        self.usage = Usage.from_dict(measured)
        self._hidden_params["usage_estimated"] = True
        self._hidden_params["response_cost"] = response_cost(self._call, measured, self._pricing, self._hidden_params)

    @property
    def response_cost(self) -> float | None:
        return self._hidden_params.get("response_cost")

    def _make(self, chunk: dict[str, Any]):
        obj = (TextCompletionResponse if self._kind == TEXT else ModelResponseStream).from_dict(chunk)
        obj._hidden_params = self._hidden_params
        return obj

    async def _run_and_report(self):
        """The chunks, batch by batch; then the stream's end: usage, cost,
        callbacks. One generator, not a generator relaying another's batches:
        each layer a chunk climbs through costs CPU (issue 23)."""
        error: BaseException | None = None
        try:
            state = StreamState(self._call)
            parse = self._adapter.parse_stream_event
            bridge = self._bridge
            generated = self._pieces
            saw_finish = False
            last: dict[str, Any] = {}
            final: list[dict[str, Any]] = []  # the last batch, sent with the usage chunk when the end is known
            try:
                async for events in self._events:
                    batch: list[dict[str, Any]] = []
                    for event in events:
                        try:
                            for chunk in parse(state, event):
                                if bridge is not None:
                                    chunk = bridge.chunk(chunk)
                                if chunk.get("usage"):
                                    state.usage = chunk["usage"]
                                choices = chunk.get("choices")
                                if not choices:
                                    continue  # the provider's usage-only chunk: re-sent at the end if asked for
                                for choice in choices:
                                    if choice.get("finish_reason"):
                                        saw_finish = True
                                    text = _choice_text(choice)
                                    if text:
                                        generated.append(text)
                                if len(generated) >= _JOIN_EVERY:  # held as a few long strings, not one per token
                                    self._joined.append("".join(generated))
                                    generated.clear()
                                last = chunk
                                chunk["usage"] = None
                                if self.first_chunk_ms is None:
                                    self.first_chunk_ms = (time.perf_counter() - self._started) * 1000
                                batch.append(chunk)
                        except Exception as exc:
                            if batch:
                                yield batch  # what came before the error is delivered first
                            if isinstance(exc, PolyrelayError):
                                raise  # the provider's own error event, mapped by the adapter
                            raise _unreadable(self._call, event, exc) from exc
                        if state.finished:
                            break
                    if state.finished:
                        final = batch
                        break
                    if batch:
                        yield batch
            finally:
                await aclose_iterator(self._events)
            if not (state.finished or saw_finish):
                raise APIConnectionError(
                    f"the stream from {self._call.provider} ended before the answer was complete",
                    llm_provider=self._call.provider, model=self._call.model, status_code=502)
            measured = usage_mod.normalize(state.usage, self._call.provider)
            if measured is None:
                measured = usage_mod.estimate(self._call, self._text())
                self._hidden_params["usage_estimated"] = True
            self.usage = Usage.from_dict(measured)
            self._hidden_params["response_cost"] = response_cost(self._call, measured, self._pricing,
                                                                 self._hidden_params, last)
            self._hidden_params["_response_ms"] = (time.perf_counter() - self._started) * 1000
            if self._include_usage:
                final.append({
                    "id": last.get("id") or new_id("chatcmpl"),
                    "object": "text_completion" if self._kind == TEXT else "chat.completion.chunk",
                    "created": last.get("created") or now(),
                    "model": last.get("model") or self._call.model,
                    "choices": [],
                    "usage": measured,
                })
            if final:
                self.ended = True
                yield final
        except BaseException as exc:
            error = exc
            raise
        finally:
            if self.usage is None:
                self._settle_partial()
            for callback in self._done_callbacks:
                callback(self, error)

    def _text(self) -> str:
        """What was generated so far, for usage counted when the provider sends none."""
        return "".join(self._joined) + "".join(self._pieces)

    @property
    def _generated(self) -> list[str]:
        """The text so far, as one piece (observe/ logs it for a streamed answer)."""
        return [self._text()]


# Generated text is kept in case usage must be counted; every this many
# pieces are joined, so an open stream holds a few strings, not one per token.
_JOIN_EVERY = 64


def _unreadable(call: Call, event: StreamEvent, exc: Exception) -> APIError:
    """A stream event that is not what the provider's protocol says (not
    JSON, not an object, fields of the wrong type): a bad gateway, named."""
    sample = event.data[:100]
    return APIError(f"{call.provider} sent a stream event polyrelay cannot read ({type(exc).__name__}): {sample!r}",
                    llm_provider=call.provider, model=call.model, status_code=502, code="upstream_bad_event")


def _choice_text(choice: dict[str, Any]) -> str:
    if "text" in choice:
        return choice.get("text") or ""
    delta = choice.get("delta")
    if not delta:
        return ""
    content = delta.get("content") or ""
    tool_calls = delta.get("tool_calls")
    if not tool_calls:
        return content  # the usual chunk: a piece of text
    parts = [content]
    for tool_call in tool_calls:
        function = tool_call.get("function") or {}
        parts.append((function.get("name") or "") + (function.get("arguments") or ""))
    return "".join(parts)


def stream_chunk_builder(chunks: list[Any], messages: list[dict[str, Any]] | None = None):
    """LiteLLM's ``stream_chunk_builder``: one full response from its chunks.

    Usage is the provider's when the chunks carry it (the ``include_usage``
    chunk, or usage spread over several chunks, merged); otherwise counted.
    """
    if chunks is None:
        raise APIError("stream_chunk_builder needs the list of chunks a stream yielded; got None. "
                       "Collect them with chunks = list(stream) (or append each in your loop).",
                       llm_provider="", model="")
    if not chunks:
        return None
    dicts = [c.model_dump() if hasattr(c, "model_dump") else dict(c) for c in chunks]
    first = dicts[0]
    text_kind = first.get("object") == "text_completion"
    by_index: dict[int, dict[str, Any]] = {}
    found_usage = None
    for chunk in dicts:
        if chunk.get("usage"):
            found_usage = _merge_usage(found_usage, chunk["usage"])
        for choice in chunk.get("choices") or []:
            slot = by_index.setdefault(choice.get("index", 0), {"content": [], "role": None, "tools": {},
                                                                 "finish_reason": None})
            if choice.get("finish_reason"):
                slot["finish_reason"] = choice["finish_reason"]
            if text_kind:
                slot["content"].append(choice.get("text") or "")
                continue
            delta = choice.get("delta") or {}
            slot["role"] = slot["role"] or delta.get("role")
            if delta.get("content"):
                slot["content"].append(delta["content"])
            for piece in delta.get("tool_calls") or []:
                tool = slot["tools"].setdefault(piece.get("index", 0), {"id": None, "type": "function",
                                                                        "function": {"name": "", "arguments": ""}})
                tool["id"] = tool["id"] or piece.get("id")
                function = piece.get("function") or {}
                tool["function"]["name"] += function.get("name") or ""
                tool["function"]["arguments"] += function.get("arguments") or ""
    choices = []
    for index in sorted(by_index):
        slot = by_index[index]
        text = "".join(slot["content"])
        if text_kind:
            choices.append({"index": index, "text": text, "logprobs": None, "finish_reason": slot["finish_reason"]})
            continue
        tools = [slot["tools"][i] for i in sorted(slot["tools"])] or None
        message = {"role": slot["role"] or "assistant", "content": text if (text or not tools) else None,
                   "tool_calls": tools}
        choices.append({"index": index, "message": message, "finish_reason": slot["finish_reason"] or "stop"})
    if found_usage is None:
        from . import tokens

        model = first.get("model")
        prompt = tokens.count_messages(messages, model) if messages else 0
        completion = sum(tokens.count_text(
            c.get("text") if text_kind else (c["message"].get("content") or ""), model) for c in choices)
        found_usage = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
    body = {"id": first.get("id"), "created": first.get("created") or now(), "model": first.get("model"),
            "choices": choices, "usage": found_usage, "system_fingerprint": first.get("system_fingerprint")}
    if text_kind:
        return TextCompletionResponse.from_dict({**body, "object": "text_completion"})
    return ModelResponse.from_dict({**body, "object": "chat.completion"})


def _merge_usage(found: dict[str, Any] | None, usage: Any) -> dict[str, Any]:
    """Usage from one more chunk over what earlier chunks said: a provider that
    reports input tokens first and output tokens last keeps both."""
    usage = usage.model_dump() if hasattr(usage, "model_dump") else dict(usage)
    if found is None:
        merged = dict(usage)
    else:
        merged = {**found, **{k: v for k, v in usage.items() if v not in (None, 0, {})}}
    prompt, completion = merged.get("prompt_tokens") or 0, merged.get("completion_tokens") or 0
    if (merged.get("total_tokens") or 0) < prompt + completion:
        merged["total_tokens"] = prompt + completion
    return merged
