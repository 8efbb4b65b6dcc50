"""polyrelay.anthropic.messages.create/acreate and polyrelay.responses/aresponses:
the same dialects as the gateway, over the one async core (and a Router)."""

from __future__ import annotations

import asyncio
import json

import pytest

import polyrelay
from fakeserver import Reply, sse


def chat_answer(text: str) -> dict:
    return {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14}}


def test_anthropic_messages_create_through_an_openai_provider(fake):
    fake.reply(Reply(json=chat_answer("Bonjour")))
    message = polyrelay.anthropic.messages.create(
        model="openai/gpt-4o-mini", max_tokens=20, system="French.", api_base=fake.url + "/v1", api_key="sk-x",
        messages=[{"role": "user", "content": "hello"}])
    assert message["content"] == [{"type": "text", "text": "Bonjour"}]
    assert message["usage"]["input_tokens"] == 11 and message["usage"]["output_tokens"] == 3
    sent = fake.requests[-1].json
    assert sent["messages"][0] == {"role": "system", "content": "French."} and sent["max_tokens"] == 20


def test_anthropic_messages_stream_sync_and_async(fake):
    chunk = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "g",
             "choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": None}]}
    end = {**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    fake.reply(Reply(stream=sse(chunk, end)), Reply(stream=sse(chunk, end)))
    events = list(polyrelay.anthropic.messages.create(model="openai/g", max_tokens=5, stream=True, api_key="sk-x",
                                                      api_base=fake.url + "/v1",
                                                      messages=[{"role": "user", "content": "x"}]))
    assert [e["type"] for e in events][0] == "message_start" and events[-1]["type"] == "message_stop"
    assert [e["delta"]["text"] for e in events if e["type"] == "content_block_delta"] == ["Hi"]

    async def run():
        stream = await polyrelay.anthropic.messages.acreate(
            model="openai/g", max_tokens=5, stream=True, api_key="sk-x", api_base=fake.url + "/v1",
            messages=[{"role": "user", "content": "x"}])
        return [e["type"] async for e in stream]

    assert asyncio.run(run())[-2:] == ["message_delta", "message_stop"]


def test_responses_through_a_router_with_tools():
    router = polyrelay.Router(model_list=[{"model_name": "g", "litellm_params": {"model": "mock/g"}}])
    calls = [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{\"a\": 1}"}}]
    response = polyrelay.responses(input="use the tool", model="g", router=router, mock_tool_calls=calls,
                                   tools=[{"type": "function", "name": "f", "parameters": {"type": "object"}}])
    (item,) = response.output
    assert item.type == "function_call" and item.call_id == "call_1" and json.loads(item.arguments) == {"a": 1}

    async def run():
        stream = await polyrelay.aresponses(input="hi", model="g", router=router, stream=True)
        return [e async for e in stream]

    events = asyncio.run(run())
    assert events[-1].type == "response.completed" and events[-1].response.output_text.startswith("This is a mock")


def test_responses_refuses_previous_response_id():
    with pytest.raises(polyrelay.BadRequestError, match="previous_response_id"):
        polyrelay.responses(input="hi", model="mock/g", previous_response_id="resp_1")
