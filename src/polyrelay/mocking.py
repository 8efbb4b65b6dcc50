"""LiteLLM's ``mock_response`` family: answers and failures made locally.

Users' own test suites drive their code through these arguments, so each
behaves as LiteLLM documents it, and none ever reaches the network:

- ``mock_response="text"``: that text as the answer (streams too; ``n``
  choices when ``n`` is given); a dict or a ``ModelResponse``: that answer;
- ``mock_response=<Exception>``: raised as the polyrelay error for its
  ``status_code`` (500 when it has none), so the Router retries and falls
  back on it as on a real failure;
- the strings ``"litellm.RateLimitError"``, ``"litellm.InternalServerError"``
  and ``"Exception: content_filter_policy"`` raise those errors;
  ``"Exception: mock_streaming_error"`` fails a stream on its first read
  (status 529, Anthropic's "overloaded"), and a plain call at once;
- ``mock_tool_calls=[...]``: the answer's ``tool_calls``;
- ``mock_timeout=True``: waits out ``timeout`` then raises ``Timeout``;
- ``mock_testing_fallbacks=True``: the call fails with
  ``InternalServerError`` so a Router's fallbacks run (the Router itself
  drops the flag for the fallback groups, as LiteLLM's does);
- ``embedding(mock_response=[0.1, ...])``: that vector for every input.

The successful answers are served by the ``mock/`` provider (providers/mock.py),
so usage, cost and hidden params come out as for a real call.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import openai

from .errors import (APIConnectionError, ContentPolicyViolationError, ContextWindowExceededError,
                     InternalServerError, PolyrelayError, RateLimitError, Timeout, error_for_status)
from .messages import plain
from .types import new_id, now

# Arguments that make a call a mocked one: any of them keeps it off the network.
MOCK_TRIGGERS = ("mock_response", "mock_tool_calls", "mock_timeout", "mock_testing_fallbacks")
STREAMING_ERROR = "Exception: mock_streaming_error"
STREAMING_ERROR_STATUS = 529
_CONTEXT_WINDOW_WORDS = ("context_length_exceeded", "maximum context length", "context window")
_CONTENT_POLICY_WORDS = ("content_policy", "content_filter", "content management policy")


def is_mocked(kwargs: dict[str, Any]) -> bool:
    return (kwargs.get("mock_response") is not None or bool(kwargs.get("mock_tool_calls"))
            or kwargs.get("mock_timeout") is True or kwargs.get("mock_testing_fallbacks") is True)


async def raise_planned_failure(kwargs: dict[str, Any], provider: str, model: str, stream: bool,
                                timeout: float | None) -> None:
    """Raise the failure the mock arguments ask for, if any (before anything is "sent")."""
    if kwargs.get("mock_timeout") is True:
        if timeout:
            await asyncio.sleep(timeout)  # as LiteLLM: the caller waits its own timeout out
        raise Timeout("This is a mock timeout error", llm_provider=provider, model=model)
    if kwargs.get("mock_testing_fallbacks") is True:
        raise fallback_drill_error(model)
    given = kwargs.get("mock_response")
    failure = mock_failure(given, provider, model, stream)
    if failure is not None:
        # The caller's own exception stays visible as the cause when it was mapped to another.
        raise failure from (given if isinstance(given, BaseException) and given is not failure else None)


def fallback_drill_error(model: str) -> InternalServerError:
    return InternalServerError(f"This is a mock exception for model={model}, to trigger a fallback.",
                               llm_provider="", model=model)


def mock_failure(value: Any, provider: str, model: str, stream: bool) -> PolyrelayError | None:
    """The error a ``mock_response`` value stands for, or None for an answer."""
    if isinstance(value, BaseException):
        return as_polyrelay_error(value, provider, model)
    if not isinstance(value, str):
        return None
    if value in ("litellm.RateLimitError", "polyrelay.RateLimitError"):
        return RateLimitError("this is a mock rate limit error", llm_provider=provider, model=model)
    if value in ("litellm.InternalServerError", "polyrelay.InternalServerError"):
        return InternalServerError("this is a mock internal server error", llm_provider=provider, model=model)
    if value.startswith("Exception: content_filter_policy"):
        return ContentPolicyViolationError(value, llm_provider=provider, model=model, code="content_filter")
    if value.startswith(STREAMING_ERROR) and not stream:
        return streaming_error(provider, model)
    return None


def streaming_error(provider: str, model: str) -> PolyrelayError:
    return error_for_status(STREAMING_ERROR_STATUS, "This is a mock error raised mid-stream",
                            llm_provider=provider, model=model)


def as_polyrelay_error(exc: BaseException, provider: str, model: str) -> PolyrelayError:
    """Any exception as the polyrelay error a provider failure with its status would be."""
    if isinstance(exc, PolyrelayError):
        exc.llm_provider = exc.llm_provider or provider
        exc.model = exc.model or model
        return exc
    message = str(getattr(exc, "message", None) or exc) or type(exc).__name__
    fields: dict[str, Any] = {"llm_provider": str(getattr(exc, "llm_provider", None) or provider), "model": model}
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if headers is not None:
        fields["headers"] = {str(k).lower(): str(v) for k, v in dict(headers).items()}
    if isinstance(exc, openai.APITimeoutError):
        return Timeout(message, **fields)
    if isinstance(exc, openai.APIConnectionError):
        return APIConnectionError(message, **fields)
    status = getattr(exc, "status_code", None)
    status = status if isinstance(status, int) and 400 <= status <= 599 else 500
    if status == 400:
        lowered = message.lower()
        if any(w in lowered for w in _CONTEXT_WINDOW_WORDS):
            return ContextWindowExceededError(message, **fields)
        if any(w in lowered for w in _CONTENT_POLICY_WORDS):
            return ContentPolicyViolationError(message, **fields)
    return error_for_status(status, message, **fields)


def canned_completion(value: Any, model: str) -> dict[str, Any] | None:
    """A dict or response object given as ``mock_response``, as a complete
    chat.completion body; None when ``value`` is not one."""
    if isinstance(value, (str, BaseException)) or value is None:
        return None
    data = plain(value)
    if not isinstance(data, dict):
        return None
    data = {"id": new_id("chatcmpl"), "created": now(), "model": model, **data, "object": "chat.completion"}
    choices = []
    for index, choice in enumerate(data.get("choices") or [{}]):
        choice = dict(choice)
        message = dict(choice.get("message") or {})
        message.setdefault("role", "assistant")
        message.setdefault("content", None)
        choice["message"] = message
        choice.setdefault("index", index)
        choice.setdefault("finish_reason", "tool_calls" if message.get("tool_calls") else "stop")
        choices.append(choice)
    data["choices"] = choices
    return data


def tool_calls(value: Any) -> list[dict[str, Any]]:
    """``mock_tool_calls`` as OpenAI tool call dicts (ids made when missing)."""
    calls = []
    for call in plain(value) or []:
        function = dict(call.get("function") or {})
        arguments = function.get("arguments", "")
        if not isinstance(arguments, str):
            arguments = json.dumps(arguments)  # LiteLLM users sometimes pass the arguments as a dict
        calls.append({"id": call.get("id") or new_id("call"), "type": call.get("type") or "function",
                      "function": {"name": function.get("name"), "arguments": arguments}})
    return calls


def chunks_from_completion(data: dict[str, Any]) -> list[dict[str, Any]]:
    """A complete answer as the chunks a provider would have streamed it in."""
    base = {"id": data["id"], "object": "chat.completion.chunk", "created": data["created"], "model": data["model"]}
    out = []
    for choice in data["choices"]:
        message, index = choice["message"], choice["index"]
        delta: dict[str, Any] = {"role": message.get("role") or "assistant", "content": message.get("content") or ""}
        out.append({**base, "choices": [{"index": index, "delta": delta, "finish_reason": None}]})
        calls = message.get("tool_calls")
        if calls:
            pieces = [{"index": i, **call} for i, call in enumerate(calls)]
            out.append({**base, "choices": [{"index": index, "delta": {"tool_calls": pieces}, "finish_reason": None}]})
        out.append({**base, "choices": [{"index": index, "delta": {}, "finish_reason": choice["finish_reason"]}]})
    return out
