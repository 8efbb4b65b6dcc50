"""From what users assign (``polyrelay.callbacks``, ``success_callback``,
``failure_callback``: names, ``CustomLogger`` instances, plain functions)
to sinks the dispatcher can deliver to.

A sink has ``name``, ``batch_size``, ``retries``, ``timeout`` and
``async send(batch)`` where each item is ``(phase, record)`` and phase is
"pre", "success" or "failure". Resolution is cached on the identity of the
lists' items, so a call with callbacks set pays one tuple build, not a
lookup per handler.
"""

from __future__ import annotations

import asyncio
import copy
import datetime
import inspect
import logging
import traceback
from typing import Any, Callable

from .custom_logger import CustomLogger, overrides, reads_argument
from .payload import REDACTED, Record, _echoes_content, _redacted_response

log = logging.getLogger("polyrelay.observe")

# Keyword arguments handlers are not given: credentials, and our own plumbing.
SECRET_ARGS = frozenset({"api_key", "azure_ad_token", "aws_access_key_id", "aws_secret_access_key",
                         "aws_session_token", "vertex_credentials", "token", "extra_headers", "headers", "user_config",
                         "client_secret", "polyrelay_log"})
# name -> factory of the sink serving it (each a module of sinks/).
NAMED_SINKS: dict[str, Callable[[], Any]] = {}
ALIASES = {"s3_v2": "s3", "generic": "generic_api"}
# Records a CustomLogger / function sink takes at once (see LoggerSink).
LOCAL_BATCH = 1_000
# Set by the gateway (offload_service_sinks): the service sinks then run in a child process.
OFFLOADED: frozenset[str] = frozenset()


def _register_named() -> None:
    from .sinks import generic, langfuse, otel, prometheus, s3

    NAMED_SINKS.update({"generic_api": generic.GenericAPISink, "generic": generic.GenericAPISink,
                        "langfuse": langfuse.LangfuseSink, "prometheus": prometheus.PrometheusSink,
                        "otel": otel.OTelSink, "s3": s3.S3Sink, "s3_v2": s3.S3Sink})


class UnknownCallback(ValueError):
    """A callback name polyrelay does not serve: refused, never ignored."""


def known_names() -> list[str]:
    if not NAMED_SINKS:
        _register_named()
    return sorted(NAMED_SINKS)


class Handlers:
    """The resolved callbacks: sinks per phase, and the loggers with gateway hooks."""

    def __init__(self) -> None:
        self.success: list[Any] = []
        self.failure: list[Any] = []
        self.pre: list[Any] = []
        self.loggers: list[CustomLogger] = []  # CustomLogger instances from ``callbacks`` (gateway hooks)

    def __bool__(self) -> bool:
        return bool(self.success or self.failure or self.pre or self.loggers)


_sinks: dict[Any, Any] = {}  # id(handler) or name -> sink (handlers kept alive in the sink)
_resolved: dict[tuple, Handlers] = {}


def resolve(callbacks: list, success: list, failure: list) -> Handlers:
    key = (tuple(map(id, callbacks)), tuple(map(id, success)), tuple(map(id, failure)))
    found = _resolved.get(key)
    if found is not None:
        return found
    handlers = Handlers()
    for source, phases in ((callbacks, ("success", "failure")), (success, ("success",)), (failure, ("failure",))):
        for item in source:
            sink = sink_for(item)
            if isinstance(item, CustomLogger) and source is callbacks and item not in handlers.loggers:
                handlers.loggers.append(item)
            for phase in phases:
                bucket = getattr(handlers, phase)
                if sink not in bucket and sink.wants(phase):
                    bucket.append(sink)
            if sink.wants("pre") and sink not in handlers.pre:
                handlers.pre.append(sink)
    for bucket in (handlers.success, handlers.failure):
        _group_remote(bucket)
    if len(_resolved) > 64:
        _resolved.clear()  # lists rebuilt over and over: keep the cache small
    _resolved[key] = handlers
    return handlers


def _group_remote(bucket: list) -> None:
    """The sinks of ``bucket`` that run in the sink process become one stand-in, where the first was."""
    remote = [sink for sink in bucket if getattr(sink, "remote", False)]
    if len(remote) < 2:
        return
    from .sink_process import remote_group

    group = remote_group(tuple(name for sink in remote for name in sink.names))
    bucket[bucket.index(remote[0])] = group
    for sink in remote[1:]:
        bucket.remove(sink)


def offload_service_sinks() -> None:
    """From now on ``langfuse``, ``otel``, ``s3`` and ``generic_api`` run in this
    process's sink process (sink_process.py); the gateway calls this at start-up."""
    global OFFLOADED
    from .sink_process import SERVICE_SINKS

    OFFLOADED = SERVICE_SINKS
    for name in SERVICE_SINKS:
        _sinks.pop(name, None)
    _resolved.clear()


def sink_for(item: Any) -> Any:
    if isinstance(item, str):
        if not NAMED_SINKS:
            _register_named()
        item = ALIASES.get(item, item)  # one sink per service, whichever name the list uses
        factory = NAMED_SINKS.get(item)
        if factory is None:
            raise UnknownCallback(f"callback {item!r} is not one polyrelay serves; use one of "
                                  f"{', '.join(known_names())}, a CustomLogger instance or a function")
        sink = _sinks.get(item)
        if sink is None:
            sink = factory()  # made here too when offloaded: a sink missing its settings is refused now
            if item in OFFLOADED:
                from .sink_process import remote_group

                sink = remote_group((item,))
            _sinks[item] = sink
        return sink
    sink = _sinks.get(id(item))
    if sink is None or sink.handler is not item:
        if isinstance(item, CustomLogger) or (not callable(item) and hasattr(item, "async_log_success_event")):
            sink = LoggerSink(item)
        elif callable(item):
            sink = FunctionSink(item)
        else:
            raise UnknownCallback(f"callback {item!r} is neither a name, a CustomLogger nor a function")
        _sinks[id(item)] = sink
    return sink


# --- what handlers receive ---------------------------------------------------------------------

def logger_args(record: Record, response_model: bool = True) -> tuple[dict[str, Any], Any, datetime.datetime,
                                                                      datetime.datetime]:
    """``(kwargs, response_obj, start_time, end_time)`` as LiteLLM passes them. ``response_model``
    False: ``response_obj`` stays the answer's dict (for handlers that never read it)."""
    std = record.standard_logging_object()
    kwargs = {**record.kwargs, "model": record.model, "call_type": std["call_type"],
              "litellm_call_id": record.call_id, "standard_logging_object": std,
              "litellm_params": {"metadata": std["metadata"], "model_info": record.kwargs.get("model_info"),
                                 "custom_llm_provider": std["custom_llm_provider"], "api_base": std["api_base"]},
              "response_cost": std["response_cost"], "cache_hit": std["cache_hit"]}
    for name in SECRET_ARGS.intersection(kwargs):
        kwargs.pop(name)  # handlers never see a credential (the deployment's params are in the call's kwargs)
    masked = (record.kwargs.get("polyrelay_log") or {}).get("log_mask") is not None
    for name, value in record.payload.items():
        kwargs[name] = REDACTED if record.redact else std["messages"] if masked else value
    kwargs["input"] = kwargs.get("messages", kwargs.get("prompt", kwargs.get("input")))
    response = record.response
    if record.status == "failure":
        error = record.error
        if record.redact and error is not None and _echoes_content(error):
            error = _redacted_error(error, std["error_str"])
        kwargs["exception"] = error
        kwargs["traceback_exception"] = "".join(traceback.format_exception(error)) if error is not None else ""
        response = None
    elif record.redact:
        response = _redacted_response(std["response"])
    elif masked:  # logging_only guardrails: handlers get the masked copy
        response = std["response"]
    if response_model and isinstance(response, dict):
        response = _as_model(record.kind, response)
    start = datetime.datetime.fromtimestamp(record.start)
    end = datetime.datetime.fromtimestamp(record.end or record.start)
    return kwargs, response, start, end


def _redacted_error(error: BaseException, text: str) -> BaseException:
    """The same error class, its message replaced: a provider's 400 may quote the prompt."""
    redacted = copy.copy(error)
    redacted.args = (text,)
    if hasattr(redacted, "message"):
        redacted.message = text
    redacted.__traceback__ = None
    return redacted


_MODELS: dict[str, type] = {}  # kind -> response class, filled on first use (types imports much)


def _as_model(kind: str, data: dict[str, Any]) -> Any:
    if not _MODELS:  # an import statement here would run on every call (~3 us each)
        from ..types import EmbeddingResponse, ModelResponse, ModerationResponse, TextCompletionResponse

        _MODELS.update(chat=ModelResponse, text=TextCompletionResponse, embedding=EmbeddingResponse,
                       moderation=ModerationResponse)
    cls = _MODELS.get(kind)
    try:
        return cls.from_dict(data) if cls is not None else data
    except Exception:  # an answer the model class cannot hold: the handler gets the dict
        return data


_ASYNC: dict[Any, bool] = {}  # function -> is it a coroutine function (inspect's answer costs ~1 us)


def _is_async(method: Any) -> bool:
    function = getattr(method, "__func__", method)
    found = _ASYNC.get(function)
    if found is None:
        if len(_ASYNC) > 1_000:
            _ASYNC.clear()
        found = _ASYNC[function] = inspect.iscoroutinefunction(method)
    return found


class LoggerSink:
    """A ``CustomLogger``: its async methods awaited, its sync ones run in a worker thread.
    Records are taken in batches of what is already queued (no waiting to fill one): one
    task and timer per batch rather than per record; each is still handed over on its own.
    The batch is large because on the gateway's loop (dispatcher ``attach``) the worker runs
    once per loop turn, and a turn under load can finish many calls: a small batch there
    falls behind until the queue overflows."""

    batch_size, retries, timeout = LOCAL_BATCH, 0, 60.0
    flush_interval = 0.0

    def __init__(self, handler: Any) -> None:
        self.handler = handler
        self.name = type(handler).__name__
        self._methods = {
            "success": [m for m in ("async_log_success_event", "log_success_event") if overrides(handler, m)],
            "failure": [m for m in ("async_log_failure_event", "log_failure_event") if overrides(handler, m)],
            "pre": [m for m in ("async_log_pre_api_call", "log_pre_api_call") if overrides(handler, m)],
        }
        # Does a success / failure method read its response_obj (else no model is built for it)?
        self._response_read = {phase: any(reads_argument(getattr(handler, m), 1) for m in self._methods[phase])
                               for phase in ("success", "failure")}

    def wants(self, phase: str) -> bool:
        return bool(self._methods[phase])

    async def send(self, batch: list) -> None:
        for phase, record in batch:
            args = logger_args(record, self._response_read.get(phase, False))
            for name in self._methods[phase]:
                method = getattr(self.handler, name)
                call_args = (record.model, args[0].get("messages"), args[0]) if phase == "pre" else args
                try:
                    if _is_async(method):
                        await method(*call_args)
                    else:
                        await asyncio.to_thread(method, *call_args)
                except Exception as exc:  # the user's handler failing is theirs to see, never the caller's
                    log.warning("callback %s.%s raised %s: %s", self.name, name, type(exc).__name__, exc)


class FunctionSink:
    """``fn(kwargs, response_obj, start_time, end_time)``, sync or async (batched as LoggerSink)."""

    batch_size, retries, timeout = LOCAL_BATCH, 0, 60.0
    flush_interval = 0.0

    def __init__(self, handler: Callable) -> None:
        self.handler = handler
        self.name = getattr(handler, "__name__", type(handler).__name__)
        self._response_read = reads_argument(handler if inspect.isroutine(handler) else handler.__call__, 1)

    def wants(self, phase: str) -> bool:
        return phase != "pre"

    async def send(self, batch: list) -> None:
        for _, record in batch:
            args = logger_args(record, self._response_read)
            try:
                if _is_async(self.handler):
                    await self.handler(*args)
                else:
                    await asyncio.to_thread(self.handler, *args)
            except Exception as exc:
                log.warning("callback %s raised %s: %s", self.name, type(exc).__name__, exc)
