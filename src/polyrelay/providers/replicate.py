"""Replicate's predictions API (``replicate/<owner>/<name>[:<version>]``).

A chat call becomes one prediction, as Replicate's HTTP API reference has it:

- ``POST /v1/models/{owner}/{name}/predictions`` for an official model,
  ``POST /v1/predictions`` with ``"version"`` for ``owner/name:version`` (or
  a bare version id), ``POST /v1/deployments/{owner}/{name}/predictions``
  for ``deployments/owner/name``; body ``{"input": {...}}``, bearer token
  ``REPLICATE_API_KEY`` (or ``REPLICATE_API_TOKEN``).
- Not streamed: sent with ``Prefer: wait``, so a quick model answers at once;
  a prediction still ``starting``/``processing`` is polled at ``urls.get``
  until it ends (``succeeded``, ``failed`` or ``canceled``). Bounded by the
  call's timeout like any call.
- Streamed: the prediction is created, then ``urls.stream`` is read as SSE
  (events ``output``, ``error``, ``done``); once done, the prediction is read
  once more for its ``metrics``, so token counts are Replicate's own.

Language models take ``prompt`` and ``system_prompt``: the system messages
go to the latter, the other messages' text, joined by newlines, to the
former. ``max_tokens``, ``temperature``, ``top_p``, ``seed``,
``presence_penalty``, ``frequency_penalty`` keep their names; ``stop``
becomes ``stop_sequences`` (comma-separated, as the Llama models take it);
any other parameter goes into ``input`` as given.

Errors are problem details (``{"title", "detail", "status"}``); a failed
prediction carries its ``error`` string and becomes a 500 (a 400 when it
says the prompt is too long).
"""

from __future__ import annotations

import asyncio
import re
from typing import Any, AsyncIterator
from urllib.parse import quote, urlsplit

import orjson

from ..errors import BadRequestError, ContextWindowExceededError, PolyrelayError
from . import _convert as cv
from . import _relay
from .base import CHAT, Adapter, Call, HTTPRequest, StreamEvent, StreamState
from .mock import LocalReply

DEFAULT_BASE = "https://api.replicate.com/v1"
POLL_SECONDS = 0.5  # between two reads of a running prediction (module attribute, so tests may shorten it)
_VERSION = re.compile(r"^[0-9a-f]{64}$")
_RUNNING = ("starting", "processing")
_METRICS_EVENT = "polyrelay-metrics"  # ours: the prediction's metrics, read after "done"
_CONTEXT = ("too long", "maximum context", "context length", "exceeds the")
_INPUT_NAMES = ("temperature", "top_p", "seed", "presence_penalty", "frequency_penalty")


class ReplicateAdapter(Adapter):
    name = "replicate"
    kinds = frozenset({CHAT})
    default_api_base = DEFAULT_BASE
    api_key_env = ("REPLICATE_API_KEY", "REPLICATE_API_TOKEN")
    api_base_env = ("REPLICATE_API_BASE",)
    unsupported_params = frozenset({
        "tools", "tool_choice", "parallel_tool_calls", "functions", "function_call", "response_format", "n",
        "logit_bias", "logprobs", "top_logprobs", "modalities", "audio", "prediction", "store", "service_tier",
        "web_search_options", "verbosity", "reasoning_effort",
    })
    streams_usage = True

    def build_request(self, call: Call) -> HTTPRequest:
        base = self.api_base(call)
        url, body = _create(call, base)
        headers = {"Content-Type": "application/json"}
        if call.creds.api_key:
            headers["Authorization"] = f"Bearer {call.creds.api_key}"
        if not call.stream:
            headers["Prefer"] = "wait"  # hold the connection while the model runs (up to 60 s)
        else:
            body["stream"] = True
        headers.update(call.creds.extra_headers)
        request = HTTPRequest("POST", url, headers, body, stream=call.stream)
        request.local = (lambda sent: _streamed(call, base, sent)) if call.stream else (
            lambda sent: _waited(call, base, sent))
        return request

    def parse_response(self, call: Call, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise BadRequestError("replicate answered with an unexpected body", llm_provider=self.name,
                                  model=call.model, status_code=502)
        output = data.get("output")
        text = "".join(str(o) for o in output) if isinstance(output, list) else str(output or "")
        message = {"role": "assistant", "content": text}
        return cv.response(call, [{"index": 0, "message": message, "finish_reason": "stop"}],
                           _usage(data.get("metrics")), id=data.get("id"))

    def map_error(self, call: Call, status: int, body: bytes, headers: dict[str, str]) -> PolyrelayError:
        exc = super().map_error(call, status, body, headers)
        if status in (400, 422) and any(m in exc.message.lower() for m in _CONTEXT):
            return ContextWindowExceededError(exc.message, status_code=400, llm_provider=self.name, model=call.model,
                                              body=exc.body, headers=headers, code=exc.code)
        return exc

    def parse_stream_event(self, state: StreamState, event: StreamEvent) -> list[dict[str, Any]]:
        kind = event.event or "output"  # SSE's default event type is "message": Replicate always names it
        if kind == "output":
            return [cv.chunk(state, {"content": event.data})] if event.data else []
        if kind == "error":
            raise _failed(state.call, _detail(event.data) or "replicate reported an error mid-stream")
        if kind == "done":
            reason = _json(event.data).get("reason") if event.data else None
            if reason in ("canceled", "error"):
                raise _failed(state.call, f"the prediction ended: {reason}")
            return [cv.chunk(state, {}, "stop")]
        if kind == _METRICS_EVENT:
            state.usage = _usage(_json(event.data))
            state.finished = True
        return []


def _create(call: Call, base: str) -> tuple[str, dict[str, Any]]:
    model = call.model
    body: dict[str, Any] = {"input": _input(call)}
    if model.startswith("deployments/"):
        owner, _, name = model[len("deployments/"):].partition("/")
        if not owner or not name or "/" in name:
            raise BadRequestError(f"replicate deployments are named deployments/owner/name, not {model!r}",
                                  llm_provider="replicate", model=model)
        return f"{base}/deployments/{quote(owner)}/{quote(name)}/predictions", body
    ref, _, version = model.partition(":")
    if _VERSION.match(ref) and not version:
        version = ref
    if version:
        return f"{base}/predictions", {"version": version, **body}
    owner, sep, name = ref.partition("/")
    if not sep or not owner or not name or "/" in name:
        raise BadRequestError(f"replicate models are named owner/name, owner/name:version or "
                              f"deployments/owner/name, not {model!r}", llm_provider="replicate", model=model)
    return f"{base}/models/{quote(owner)}/{quote(name)}/predictions", body


def _input(call: Call) -> dict[str, Any]:
    params = call.params
    system, turns = [], []
    for message in params.get("messages") or []:
        (system if message.get("role") in ("system", "developer") else turns).append(
            cv.text_only(call, message.get("content")))
    data: dict[str, Any] = {"prompt": "\n".join(turns)}
    if system:
        data["system_prompt"] = "\n".join(system)
    if cv.max_tokens(params) is not None:
        data["max_tokens"] = cv.max_tokens(params)
    for name in _INPUT_NAMES:
        if params.get(name) is not None:
            data[name] = params[name]
    if params.get("stop") is not None:
        data["stop_sequences"] = ",".join(cv.stop_list(params["stop"]))
    consumed = frozenset({"messages", "max_tokens", "max_completion_tokens", "stop", "user", *_INPUT_NAMES})
    data.update(cv.passthrough(params, consumed))
    return data


# -- the exchanges ------------------------------------------------------------------------------


async def _waited(call: Call, base: str, request: HTTPRequest) -> LocalReply:
    answer = await _relay.exchange(call, request)
    if answer.status >= 400:
        return answer
    prediction = _prediction(call, answer.body)
    prediction = await _until_done(call, base, request, prediction)
    if prediction.get("status") != "succeeded":
        return _failure_reply(prediction)
    return LocalReply(200, orjson.dumps(prediction), {"content-type": "application/json"})


async def _until_done(call: Call, base: str, request: HTTPRequest, prediction: dict[str, Any]) -> dict[str, Any]:
    try:
        while prediction.get("status") in _RUNNING:
            await asyncio.sleep(POLL_SECONDS)
            answer = await _relay.exchange(call, _get(call, base, request, _url(prediction, "get")))
            if answer.status >= 400:
                raise _error_of(call, answer)
            prediction = _prediction(call, answer.body)
    except asyncio.CancelledError:
        _cancel_later(call, base, request, prediction)  # the call timed out or was dropped: stop the billing
        raise
    return prediction


_cancelling: set[asyncio.Task] = set()  # held until done: the loop keeps only weak references to tasks


def _cancel_later(call: Call, base: str, request: HTTPRequest, prediction: dict[str, Any]) -> None:
    """Ask Replicate to cancel a prediction nobody waits for any more (it bills while it runs).
    Best effort, in the background: the caller's own cancellation must not wait on it."""
    url = (prediction.get("urls") or {}).get("cancel")
    if not url or prediction.get("status") not in _RUNNING:
        return

    async def cancel() -> None:
        try:
            cancel_request = _get(call, base, request, str(url))
            cancel_request.method = "POST"
            await asyncio.wait_for(_relay.exchange(call, cancel_request), 10)
        except Exception:  # noqa: BLE001 - nothing to report to: the call has already ended
            pass

    task = asyncio.get_running_loop().create_task(cancel())
    _cancelling.add(task)
    task.add_done_callback(_cancelling.discard)


async def _streamed(call: Call, base: str, request: HTTPRequest) -> LocalReply:
    from .. import transport

    answer = await _relay.exchange(call, _plain(request))
    if answer.status >= 400:
        return answer
    prediction = _prediction(call, answer.body)
    if prediction.get("status") == "failed":
        return _failure_reply(prediction)
    stream_url = (prediction.get("urls") or {}).get("stream")
    if not stream_url:
        raise BadRequestError(f"replicate model {call.model} does not stream (its prediction has no urls.stream)",
                              llm_provider="replicate", model=call.model)
    sse = _get(call, base, request, _trusted(call, base, stream_url))
    sse.headers.update({"Accept": "text/event-stream", "Cache-Control": "no-store"})
    sse.stream = True
    try:
        reply = await transport.open_stream(sse, timeout=None, provider=call.provider, model=call.model)
    except transport.UpstreamStatus as failed:
        return LocalReply(failed.reply.status, failed.reply.body, failed.reply.headers)
    return LocalReply(200, headers={"content-type": "text/event-stream"},
                      events=_events_then_metrics(call, base, request, prediction, reply.events))


async def _events_then_metrics(call: Call, base: str, request: HTTPRequest, prediction: dict[str, Any],
                               batches: AsyncIterator[list[StreamEvent]]) -> AsyncIterator[StreamEvent]:
    from .. import transport

    last = ""  # the type of the event that ended the stream: "done", "error", or none (cut short)
    try:
        async for batch in batches:
            for event in batch:
                if event.event in ("done", "error"):
                    last = event.event  # before the yield: a reader may stop at the final chunk
                yield event
                if last:
                    break
            if last:
                break
    finally:
        if not last:  # the reader stopped early (or the stream broke): the model would run on, billed
            _cancel_later(call, base, request, {**prediction, "status": "processing"})
        await transport.aclose_iterator(batches)
    if last != "done":
        return  # an error event raises in the adapter; a cut stream is reported by the stream wrapper
    # The stream carries text only: the token counts are on the prediction, once it has ended.
    prediction = await _until_done(call, base, request, {**prediction, "status": "processing"})
    yield StreamEvent(orjson.dumps(prediction.get("metrics") or {}).decode(), _METRICS_EVENT)


def _plain(request: HTTPRequest) -> HTTPRequest:
    from dataclasses import replace

    return replace(request, stream=False, local=None)


def _get(call: Call, base: str, request: HTTPRequest, url: str) -> HTTPRequest:
    headers = {k: v for k, v in request.headers.items() if k.lower() not in ("content-type", "prefer")}
    return HTTPRequest("GET", _trusted(call, base, url), headers)


def _url(prediction: dict[str, Any], name: str) -> str:
    url = (prediction.get("urls") or {}).get(name)
    if not url:
        raise BadRequestError(f"replicate's prediction has no urls.{name}", llm_provider="replicate",
                              status_code=502)
    return str(url)


def _trusted(call: Call, base: str, url: str) -> str:
    """A URL from Replicate's answer is followed (with the token) only to Replicate
    itself or to the api_base's own origin."""
    given, ours = urlsplit(url), urlsplit(base)
    host = (given.hostname or "").lower()
    if (given.scheme, given.netloc) == (ours.scheme, ours.netloc) or (
            given.scheme == "https" and (host == "replicate.com" or host.endswith(".replicate.com"))):
        return url
    raise BadRequestError(f"replicate answered with a URL outside Replicate ({given.scheme}://{host}); "
                          "not followed", llm_provider="replicate", model=call.model, status_code=502)


def _prediction(call: Call, body: bytes) -> dict[str, Any]:
    found = _json(body)
    if not found.get("status"):
        raise BadRequestError("replicate answered with something that is not a prediction",
                              llm_provider="replicate", model=call.model, status_code=502)
    return found


def _failure_reply(prediction: dict[str, Any]) -> LocalReply:
    error = str(prediction.get("error") or f"the prediction {prediction.get('status')}")
    status = 400 if any(m in error.lower() for m in _CONTEXT) else 500
    body = {"title": f"Prediction {prediction.get('status')}", "detail": error, "status": status,
            "prediction_id": prediction.get("id")}
    return LocalReply(status, orjson.dumps(body), {"content-type": "application/problem+json"})


def _error_of(call: Call, answer: LocalReply) -> PolyrelayError:
    from . import get_adapter

    return get_adapter("replicate").map_error(call, answer.status, answer.body, answer.headers)


def _failed(call: Call, message: str) -> PolyrelayError:
    status = 400 if any(m in message.lower() for m in _CONTEXT) else 500
    body = orjson.dumps({"detail": message, "status": status})
    return _error_of(call, LocalReply(status, body, {}))


def _detail(data: str) -> str:
    found = _json(data)
    return str(found.get("detail") or found.get("error") or data)


def _json(data: bytes | str) -> dict[str, Any]:
    try:
        found = orjson.loads(data) if data else {}
    except orjson.JSONDecodeError:
        return {}
    return found if isinstance(found, dict) else {}


def _usage(metrics: Any) -> dict[str, Any] | None:
    # Both counts or none: a missing one would be read as 0 and under-charge.
    if not isinstance(metrics, dict) or not {"input_token_count", "output_token_count"} <= metrics.keys():
        return None
    from ..usage_checks import count

    prompt = count(metrics.get("input_token_count"), "replicate", "input_token_count")
    completion = count(metrics.get("output_token_count"), "replicate", "output_token_count")
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
