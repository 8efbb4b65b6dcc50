"""Observability: the callbacks of LiteLLM's API, fed from one place.

``start`` is called by the core at the top of every call. With no callback
set (``polyrelay.callbacks``, ``success_callback``, ``failure_callback`` all
empty) it returns None and the call does nothing more for logging. Otherwise
it returns a ``Watch`` that records the call's end (answer, failure, or a
stream's last chunk) and hands the record to the dispatcher: the payload is
built, and every sink runs, on the dispatcher's loop (dispatcher.py).
"""

from __future__ import annotations

import sys
import time
import uuid
from typing import Any

from .dispatcher import DISPATCHER
from .handlers import Handlers, resolve
from .payload import Record, message_logging_off

__all__ = ["DISPATCHER", "Watch", "active_handlers", "blocked", "start"]


def active_handlers() -> Handlers | None:
    package = sys.modules.get("polyrelay")
    if package is None:
        return None
    callbacks = package.callbacks
    success = package.success_callback
    failure = package.failure_callback
    if not (callbacks or success or failure):
        return None
    return resolve(callbacks, success, failure) or None


def _redact_default() -> bool:
    return bool(getattr(sys.modules.get("polyrelay"), "turn_off_message_logging", False))


def start(kind: str, model: str, payload: dict[str, Any], kwargs: dict[str, Any]) -> "Watch | None":
    handlers = active_handlers()
    if handlers is None:
        return None
    record = Record(kind=kind, model=model, call_id=str(kwargs.get("litellm_call_id") or uuid.uuid4()),
                    kwargs=kwargs, payload=payload, start=time.time(), stream=bool(kwargs.get("stream")),
                    redact=message_logging_off(kwargs, _redact_default()))
    if handlers.pre:
        DISPATCHER.submit("pre", record, tuple(handlers.pre))
    return Watch(handlers, record)


def blocked(kind: str, model: str, payload: dict[str, Any], kwargs: dict[str, Any], error: BaseException) -> None:
    """A call refused before any provider was asked (a budget, a limit, a hook): logged as a failure."""
    watch = start(kind, model or "", payload, kwargs)
    if watch is not None:
        watch.failed(error)


class Watch:
    __slots__ = ("handlers", "record")

    def __init__(self, handlers: Handlers, record: Record) -> None:
        self.handlers = handlers
        self.record = record

    def failed(self, error: BaseException) -> None:
        if not isinstance(error, Exception):
            return  # cancellation: the caller left, nothing was answered or refused
        rec = self.record
        rec.status, rec.error, rec.end = "failure", error, time.time()
        if self.handlers.failure:
            DISPATCHER.submit("failure", rec, tuple(self.handlers.failure))

    def answered(self, result: Any) -> Any:
        add_done = getattr(result, "add_done_callback", None)
        if add_done is not None and self.record.stream:
            add_done(self._stream_ended)  # logged once, at the stream's end, with its whole usage
            return result
        rec = self.record
        rec.end = time.time()
        rec.response = result
        rec.hidden = getattr(result, "_hidden_params", None) or {}
        if self.handlers.success:
            DISPATCHER.submit("success", rec, tuple(self.handlers.success))
        return result

    def _stream_ended(self, stream: Any, error: BaseException | None) -> None:
        rec = self.record
        rec.end = time.time()
        rec.hidden = getattr(stream, "_hidden_params", None) or {}
        if stream.first_chunk_ms is not None:
            rec.first_token = rec.start + stream.first_chunk_ms / 1000
        usage = stream.usage
        rec.usage = usage.model_dump() if hasattr(usage, "model_dump") else usage
        if error is not None and isinstance(error, Exception):
            self.failed(error)
            return
        rec.response = _assembled(stream, rec)
        if self.handlers.success:
            DISPATCHER.submit("success", rec, tuple(self.handlers.success))


def _assembled(stream: Any, rec: Record) -> dict[str, Any]:
    """The streamed answer as one response, for the sinks (as LiteLLM's stream_chunk_builder gives them)."""
    text = "".join(getattr(stream, "_generated", ()) or ())
    model = getattr(getattr(stream, "_call", None), "model", None) or rec.model
    if rec.kind == "text":
        choice = {"index": 0, "text": text, "finish_reason": "stop"}
        obj = "text_completion"
    else:
        choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        obj = "chat.completion"
    return {"id": rec.call_id, "object": obj, "created": int(rec.start), "model": model, "choices": [choice],
            "usage": rec.usage}
