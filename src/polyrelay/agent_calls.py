"""The SDK side of the agent front doors: ``polyrelay.responses`` /
``aresponses`` (OpenAI's Responses API) and
``polyrelay.anthropic.messages.create`` / ``acreate`` (Anthropic's
Messages API), for any model polyrelay can call.

Each translates the request to a chat call (``dialects/``), runs the one
async core (``api.acompletion``; pass ``router=`` to go through a Router
and its fallbacks instead), and translates the answer back; a stream comes
back as the dialect's events.

The SDK keeps no stored responses: ``previous_response_id`` needs the
gateway (``POST /v1/responses``), and is refused here rather than ignored.
"""

from __future__ import annotations

from typing import Any, AsyncIterator

from . import _sync, api
from .dialects import anthropic_messages, responses as responses_dialect
from .dialects.anthropic_stream import MessageEvents
from .dialects.responses_stream import ResponseEvents
from .errors import BadRequestError


async def _chat(chat: dict[str, Any], router: Any = None):
    model = chat.pop("model", None)
    if not model:
        raise BadRequestError("model is required", param="model")
    messages = chat.pop("messages")
    call = router.acompletion if router is not None else api.acompletion
    return await call(model=model, messages=messages, **chat)


def _dump(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else value.model_dump()


# -- Anthropic Messages ----------------------------------------------------------------


async def anthropic_acreate(model: str, messages: list[dict[str, Any]], max_tokens: int, *, stream: bool = False,
                            router: Any = None, **kwargs: Any):
    """An Anthropic Message (a dict), or with ``stream=True`` an async iterator of its stream events (dicts)."""
    chat = anthropic_messages.to_chat({"model": model, "messages": messages, "max_tokens": max_tokens,
                                       "stream": stream, **kwargs})
    result = await _chat(chat, router)
    if not stream:
        return anthropic_messages.from_chat(_dump(result), model)
    return _anthropic_events(result, model)


async def _anthropic_events(stream: Any, model: str) -> AsyncIterator[dict[str, Any]]:
    events = MessageEvents(model)
    async for chunk in stream:
        for _name, data in events.events([_dump(chunk)]):
            yield data
    for _name, data in events.end_events():
        yield data


def anthropic_create(model: str, messages: list[dict[str, Any]], max_tokens: int, *, stream: bool = False,
                     **kwargs: Any):
    result = _sync.run(anthropic_acreate(model, messages, max_tokens, stream=stream, **kwargs))
    return _sync.iterate(result) if stream else result


# -- OpenAI Responses ------------------------------------------------------------------


def _response_types():
    # Imported on first use: the openai package's types are heavy and only these calls need them.
    from openai.types.responses import Response, ResponseStreamEvent
    from pydantic import TypeAdapter

    return Response, TypeAdapter(ResponseStreamEvent)


async def aresponses(input: Any, model: str, *, stream: bool = False, router: Any = None, **kwargs: Any):
    """An ``openai`` ``Response``, or with ``stream=True`` an async iterator of its stream events."""
    if kwargs.get("previous_response_id"):
        raise BadRequestError("previous_response_id needs stored responses: call the gateway's /v1/responses, "
                              "or send the earlier turns in 'input'", param="previous_response_id")
    body = {"model": model, "input": input, "stream": stream, **kwargs}
    chat, dropped = responses_dialect.to_chat(body)
    response = responses_dialect.skeleton(body, responses_dialect.new_id("resp"), model, dropped)
    result = await _chat(chat, router)
    response_type, event_type = _response_types()
    if not stream:
        return response_type.model_validate(responses_dialect.from_chat(_dump(result), response))
    return _response_events(result, response, event_type)


async def _response_events(stream: Any, response: dict[str, Any], event_type: Any) -> AsyncIterator[Any]:
    events = ResponseEvents(response)
    async for chunk in stream:
        for data in events.events([_dump(chunk)]):
            yield event_type.validate_python(data)
    for data in events.end_events():
        yield event_type.validate_python(data)


def responses(input: Any, model: str, *, stream: bool = False, **kwargs: Any):
    result = _sync.run(aresponses(input, model, stream=stream, **kwargs))
    return _sync.iterate(result) if stream else result
