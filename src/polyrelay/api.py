"""completion / text_completion / embedding / moderation: the async core
that the SDK, the Router and the gateway all run, and its sync wrappers.

One path for every call: plan it (params.py), pick a bridge if the
provider serves another endpoint (bridge.py), send it with retries through
the transport, parse with the provider's adapter, then settle usage and
the hidden params in one place.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import orjson

from . import _sync, mocking, observe, transport, verbose
from . import usage as usage_mod
from .bridge import bridge_for
from .cost import pricing_args, response_cost
from .errors import BadRequestError, PolyrelayError, Timeout, retry_after_seconds, should_retry
from .params import Plan, package_setting, plan
from .providers.base import CHAT, EMBEDDING, MODERATION, TEXT
from .streaming import CompletionStream
from .types import EmbeddingResponse, ModelResponse, ModerationResponse, TextCompletionResponse, WireResponse

RESPONSE_TYPES = {
    CHAT: ModelResponse,
    TEXT: TextCompletionResponse,
    EMBEDDING: EmbeddingResponse,
    MODERATION: ModerationResponse,
}
BACKOFF_BASE_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 8.0
DEFAULT_MODERATION_MODEL = "openai/omni-moderation-latest"


async def _send_within(p: Plan, request, stream: bool):
    """One upstream exchange, bounded by the call's timeout (the transport's own read timeout applies too)."""
    call = p.call
    opener = transport.open_stream if stream else transport.send
    sending = opener(request, timeout=p.timeout, provider=call.provider, model=call.model)
    if p.timeout is None:
        return await sending
    try:
        async with asyncio.timeout(p.timeout):
            return await sending
    except TimeoutError as exc:
        raise Timeout(f"{call.provider} did not answer within {p.timeout}s", llm_provider=call.provider,
                      model=call.model) from exc


async def _attempts(p: Plan, send_once):
    """Run ``send_once`` up to 1 + num_retries times, backing off between
    retryable failures (honouring the provider's retry-after)."""
    for attempt in range(p.num_retries + 1):
        try:
            return await send_once()
        except transport.UpstreamStatus as upstream:
            reply = upstream.reply
            exc: PolyrelayError = p.adapter.map_error(p.call, reply.status, reply.body, reply.headers)
            exc.llm_provider = p.call.provider
        except PolyrelayError as failure:
            exc = failure
        exc.num_retries = attempt
        if attempt >= p.num_retries or not should_retry(exc):
            raise exc from None
        wait = retry_after_seconds(exc)
        if wait is None:
            wait = min(BACKOFF_MAX_SECONDS, BACKOFF_BASE_SECONDS * 2**attempt) * (0.5 + random.random() / 2)
        await asyncio.sleep(wait)
    raise AssertionError("unreachable")


async def _execute(kind: str, model: str, payload: dict[str, Any], kwargs: dict[str, Any]):
    watch = observe.start(kind, model, payload, kwargs)  # None when no callback is set
    if watch is None:
        return await _run(kind, model, payload, kwargs)
    try:
        result = await _run(kind, model, payload, kwargs)
    except BaseException as exc:
        watch.failed(exc)
        raise
    return watch.answered(result)


async def _run(kind: str, model: str, payload: dict[str, Any], kwargs: dict[str, Any]):
    if kind not in RESPONSE_TYPES:  # images, rerank: priced per unit, not per token (media/core.py)
        from .media.core import execute

        return await execute(kind, model, payload, kwargs)
    cache = package_setting("cache")  # polyrelay.cache = Cache(...): one attribute read when unset
    if cache is not None and kind != MODERATION:
        from .caching import through

        return await through(cache, kind, model, payload, kwargs, _call)
    return await _call(kind, model, payload, kwargs)


async def _call(kind: str, model: str, payload: dict[str, Any], kwargs: dict[str, Any]):
    started = time.perf_counter()
    p = plan(kind, model, payload, kwargs)
    if p.mocked:
        await mocking.raise_planned_failure(kwargs, p.call.provider, p.call.model, p.call.stream, p.timeout)
    adapter, call = p.adapter, p.call
    bridge = bridge_for(kind, adapter.kinds)
    if bridge is not None:
        drop = bool(kwargs.get("drop_params", package_setting("drop_params", False)))
        call = bridge.request(call, drop)
        p.call = call
    elif kind not in adapter.kinds:
        raise BadRequestError(f"{call.provider} does not serve {kind} requests", llm_provider=call.provider,
                              model=call.model)
    request = adapter.build_request(call)
    hidden = {"custom_llm_provider": call.provider, "api_base": call.creds.api_base or adapter.default_api_base,
              "model_id": kwargs.get("model_id"), "response_cost": None}

    async def send_once():
        return await _send_within(p, await adapter.authorize(call, request), call.stream)

    talk = verbose.enabled(kwargs)
    if talk:
        verbose.log("%s %s (provider %s, model %s)\n  request body: %s", request.method, request.url, call.provider,
                    call.model, verbose.body_text(request.json), secrets=call.creds.secrets())
    try:
        reply = await _attempts(p, send_once)
    except PolyrelayError as exc:
        if talk:
            verbose.log("failed after %d retries: %s", exc.num_retries or 0, exc, secrets=call.creds.secrets())
        raise
    if call.stream:
        if talk:
            verbose.log("streaming the answer from %s", call.provider)
        return CompletionStream(reply.events, adapter, call, bridge=bridge, kind=kind,
                                include_usage=p.caller_wants_usage, hidden=hidden, started=started,
                                pricing=pricing_args(kwargs))
    try:
        parsed = orjson.loads(reply.body)
    except orjson.JSONDecodeError as exc:
        raise BadRequestError(f"{call.provider} answered with a body that is not JSON", llm_provider=call.provider,
                              model=call.model, status_code=502) from exc
    if not isinstance(parsed, dict):
        raise BadRequestError(f"{call.provider} answered with a JSON {type(parsed).__name__}, not an object",
                              llm_provider=call.provider, model=call.model, status_code=502)
    try:
        response = _answer(call, kind, adapter, bridge, parsed, kwargs, hidden, reply.headers)
    except PolyrelayError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        # Fields of the wrong shape (``"choices": 5``): the provider's answer is broken, not the gateway.
        raise BadRequestError(f"{call.provider} answered with a body polyrelay cannot read "
                              f"({type(exc).__name__}: {str(exc)[:100]})", llm_provider=call.provider,
                              model=call.model, status_code=502) from exc
    elapsed_ms = (time.perf_counter() - started) * 1000
    if talk:
        verbose.log("answered in %.0f ms, cost $%s\n  response: %s", elapsed_ms, hidden["response_cost"],
                    verbose.body_text(response if isinstance(response, dict) else response.model_dump()))
    hidden["_response_ms"] = elapsed_ms
    response._hidden_params = hidden
    response._response_ms = elapsed_ms
    return response


def _answer(call, kind: str, adapter, bridge, parsed: dict[str, Any], kwargs: dict[str, Any], hidden: dict[str, Any],
            headers: dict[str, str] | None = None):
    """The provider's answer as ours: parsed, bridged, with usage and cost."""
    data = adapter.parse_reply(call, parsed, headers or {})
    if bridge is not None:
        data = bridge.response(data)
    measured = usage_mod.normalize(data.get("usage"), call.provider)
    if measured is None and kind != MODERATION:
        measured = usage_mod.estimate(call, usage_mod.output_text(call.kind, data))
        hidden["usage_estimated"] = True
    if measured is not None:
        data["usage"] = measured
    hidden["response_cost"] = response_cost(call, measured, kwargs, hidden, data)
    if kwargs.get("polyrelay_wire"):
        response = WireResponse(data)
        if kind == CHAT:  # the nullable fields OpenAI always sends, as the models would add them
            response.setdefault("system_fingerprint", None)
            for choice in response.get("choices") or ():
                choice.setdefault("logprobs", None)
    else:
        response = RESPONSE_TYPES[kind].from_dict(data)
    return response


async def acompletion(model: str, messages: list[dict[str, Any]] | None = None, **kwargs: Any):
    """Chat completion: a ``ModelResponse``, or with ``stream=True`` an async iterator of chunks."""
    if messages is None:
        raise BadRequestError("messages is required", model=model, param="messages")
    return await _execute(CHAT, model, {"messages": messages}, kwargs)


async def atext_completion(model: str, prompt: Any = None, **kwargs: Any):
    """Legacy completion: a ``TextCompletionResponse`` (``choices[i].text``)."""
    if prompt is None:
        raise BadRequestError("prompt is required", model=model, param="prompt")
    return await _execute(TEXT, model, {"prompt": prompt}, kwargs)


async def aembedding(model: str, input: Any = None, **kwargs: Any) -> EmbeddingResponse:
    if input is None:
        raise BadRequestError("input is required", model=model, param="input")
    kwargs.pop("stream", None)
    return await _execute(EMBEDDING, model, {"input": input}, kwargs)


async def amoderation(input: Any, model: str | None = None, **kwargs: Any) -> ModerationResponse:
    kwargs.pop("stream", None)
    model = model or DEFAULT_MODERATION_MODEL
    payload = {"input": input}
    return await _execute(MODERATION, model, payload, kwargs)


def sync_result(result: Any) -> Any:
    """A stream as a sync iterator; anything else as it is."""
    # A live stream, or a cached answer replayed as one (caching/replay.py).
    return _sync.iterate(result) if hasattr(result, "__aiter__") else result



def completion(model: str, messages: list[dict[str, Any]] | None = None, **kwargs: Any):
    return sync_result(_sync.run(acompletion(model, messages, **kwargs)))


def text_completion(model: str, prompt: Any = None, **kwargs: Any):
    return sync_result(_sync.run(atext_completion(model, prompt, **kwargs)))


def mock_completion(model: str, messages: list[Any], stream: bool = False, n: int | None = None,
                    mock_response: Any = "This is a mock request", mock_tool_calls: list[Any] | None = None,
                    **kwargs: Any):
    """LiteLLM's ``mock_completion``: ``completion`` answered by ``mock_response``, never the network."""
    return completion(model, messages, stream=stream, n=n, mock_response=mock_response,
                      mock_tool_calls=mock_tool_calls, **kwargs)


def embedding(model: str, input: Any = None, **kwargs: Any) -> EmbeddingResponse:
    return _sync.run(aembedding(model, input, **kwargs))


def moderation(input: Any, model: str | None = None, **kwargs: Any) -> ModerationResponse:
    return _sync.run(amoderation(input, model, **kwargs))
