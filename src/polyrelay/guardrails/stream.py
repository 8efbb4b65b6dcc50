"""A stream with post_call guardrails on it.

Wraps the Router's stream and keeps its surface (``next_batch``, ``ended``,
``usage``, ``_hidden_params``, ``aclose``, ``add_done_callback``), so the
SSE relay and accounting use it as they use the stream itself. Each batch
of chunks is checked before it is released:

- built-in (text) guardrails scan the new text with a look-behind window
  (scanning.StreamWindow), so a phrase split across chunks is caught;
- a custom guardrail's ``async_post_call_streaming_iterator_hook`` sees the
  chunks as objects, one by one, and passes on (or changes) what it yields.

A violation raises GuardrailBlocked from ``next_batch``: before the first
chunk that is a 400 answer; later, the relay sends it as one
``data: {"error": ...}`` event and ends the stream. Everything released
before it has been sent to the client.
"""

from __future__ import annotations

import time
from typing import Any

from .base import CustomGuardrail, GuardrailBlocked, overrides
from .setup import is_text_guardrail


class GuardedStream:
    def __init__(self, stream: Any, guards: list[CustomGuardrail], plan: Any, data: dict[str, Any]) -> None:
        from ..gateway.routes.sse import chunk_batches

        self._stream = stream
        self._plan = plan
        self._windows = [g.stream_checker() for g in guards if is_text_guardrail(g)]
        self._window_guards = [g for g in guards if is_text_guardrail(g)]
        custom = [g for g in guards if not is_text_guardrail(g)
                  and overrides(g, "async_post_call_streaming_iterator_hook")]
        source = chunk_batches(stream)
        if custom:
            source = _through_hooks(source, custom, plan, data)
        self._source = source
        self._names = [g.guardrail_name for g in guards]
        self._started = time.time()
        self._recorded = False
        self._blocked: BaseException | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    def add_done_callback(self, fn) -> None:
        """The stream's end as accounting sees it: a stream a guardrail cut is a failure (still charged)."""
        self._stream.add_done_callback(lambda finished, error: fn(finished, self._blocked or error))

    async def next_batch(self) -> list[dict]:
        try:
            batch = await self._source()
        except GuardrailBlocked as exc:  # a custom stream hook refused
            self._blocked = exc
            raise
        except StopAsyncIteration:
            self._record_pass()
            raise
        try:
            for guardrail, window in zip(self._window_guards, self._windows):
                await self._plan._run(guardrail, "post_call", window.feed(batch), quiet=True)
        except GuardrailBlocked as exc:
            self._blocked = exc
            raise
        return batch

    def _record_pass(self) -> None:
        """Per-batch passes are not recorded one by one: a whole stream that passed is one decision each."""
        if not self._recorded:
            self._recorded = True
            for name in self._names:
                self._plan.record(name, "post_call", "success", None, self._started)

    async def aclose(self) -> None:
        close = getattr(self._stream, "aclose", None)
        if close is not None:
            await close()


def _through_hooks(next_batch, guards: list[CustomGuardrail], plan: Any, data: dict[str, Any]):
    """The batches as chunk objects through each custom hook, back out as wire dicts one per batch."""
    from ..types import ModelResponseStream

    async def chunks():
        while True:
            try:
                batch = await next_batch()
            except StopAsyncIteration:
                return
            for chunk in batch:
                yield ModelResponseStream.from_dict(chunk)

    iterator = chunks()
    for g in guards:
        iterator = _recorded(plan, g, g.async_post_call_streaming_iterator_hook(plan.user, iterator, data))

    async def batch_of_one() -> list[dict]:
        chunk = await anext(iterator)
        return [chunk.model_dump() if hasattr(chunk, "model_dump") else dict(chunk)]

    return batch_of_one


async def _recorded(plan: Any, guardrail: CustomGuardrail, iterator):
    """A custom stream hook whose exceptions become the guardrail's refusal."""
    while True:
        try:
            chunk = await plan._run(guardrail, "post_call", anext(iterator), quiet=True)
        except StopAsyncIteration:
            return
        yield chunk
