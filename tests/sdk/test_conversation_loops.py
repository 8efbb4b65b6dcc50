"""Conversation and tool-calling loops, written as LiteLLM users write them:
the reply's message object goes straight back into ``messages``.

Each provider runs against its fake server, so the second request is
really serialised to JSON and checked as the provider receives it.
"""

from __future__ import annotations

import json
from pathlib import Path

import openai.types.chat
import pytest
from pydantic import BaseModel

import polyrelay as litellm
from fakeserver import Reply

FIXTURES = Path(__file__).resolve().parent.parent / "providers" / "fixtures"
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a given location",
        "parameters": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]},
    },
}
OPENAI_TOOL_REPLY = {
    "id": "chatcmpl-tool", "object": "chat.completion", "created": 1700000000, "model": "gpt-4o",
    "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
        "role": "assistant", "content": None,
        "tool_calls": [{"id": "call_abc", "type": "function",
                        "function": {"name": "get_weather", "arguments": "{\"location\": \"Paris\"}"}}]}}],
    "usage": {"prompt_tokens": 50, "completion_tokens": 10, "total_tokens": 60},
}
OPENAI_TEXT_REPLY = {
    "id": "chatcmpl-text", "object": "chat.completion", "created": 1700000001, "model": "gpt-4o",
    "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "It is 18C."}}],
    "usage": {"prompt_tokens": 70, "completion_tokens": 5, "total_tokens": 75},
}


def anthropic_fixture(name: str):
    return json.loads((FIXTURES / "anthropic" / name).read_text())


def run_tool(call) -> str:
    args = json.loads(call.function.arguments)
    return json.dumps({"location": args["location"], "temperature_c": 18})


def test_openai_tool_loop_appends_reply_message_object(fake):
    fake.reply(Reply(json=OPENAI_TOOL_REPLY), Reply(json=OPENAI_TEXT_REPLY))
    messages = [{"role": "user", "content": "Weather in Paris?"}]
    kwargs = dict(model="openai/gpt-4o", api_base=fake.url, api_key="sk-test-0123456789", tools=[WEATHER_TOOL])

    response = litellm.completion(messages=messages, **kwargs)
    message = response.choices[0].message
    messages.append(message)  # the object itself, as LiteLLM's docs do
    for call in message.tool_calls:
        messages.append({"role": "tool", "tool_call_id": call.id, "name": call.function.name,
                         "content": run_tool(call)})
    final = litellm.completion(messages=messages, **kwargs)

    assert final.choices[0].message.content == "It is 18C."
    sent = fake.requests[1].json["messages"]
    assert sent[1] == {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_abc", "type": "function",
         "function": {"name": "get_weather", "arguments": "{\"location\": \"Paris\"}"}}]}
    assert sent[2]["role"] == "tool" and sent[2]["tool_call_id"] == "call_abc"
    assert messages[1] is message  # the caller's list is left as it was


def test_openai_multi_turn_with_openai_sdk_and_pydantic_messages(fake):
    fake.reply(Reply(json=OPENAI_TEXT_REPLY), Reply(json=OPENAI_TEXT_REPLY))

    class Turn(BaseModel):
        role: str
        content: str

    from_openai_sdk = openai.types.chat.ChatCompletionMessage(role="assistant", content="Earlier answer.")
    messages = [Turn(role="user", content="Hi"), from_openai_sdk, Turn(role="user", content="And now?")]
    kwargs = dict(model="openai/gpt-4o", api_base=fake.url, api_key="sk-test-0123456789")
    reply = litellm.completion(messages=messages, **kwargs)
    messages += [reply.choices[0].message, {"role": "user", "content": "Thanks"}]
    litellm.completion(messages=messages, **kwargs)

    assert fake.requests[1].json["messages"] == [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Earlier answer."},
        {"role": "user", "content": "And now?"},
        {"role": "assistant", "content": "It is 18C."},
        {"role": "user", "content": "Thanks"},
    ]


def test_dict_message_holding_tool_call_objects(fake):
    fake.reply(Reply(json=OPENAI_TOOL_REPLY), Reply(json=OPENAI_TEXT_REPLY))
    kwargs = dict(model="openai/gpt-4o", api_base=fake.url, api_key="sk-test-0123456789", tools=[WEATHER_TOOL])
    messages = [{"role": "user", "content": "Weather in Paris?"}]
    calls = litellm.completion(messages=messages, **kwargs).choices[0].message.tool_calls
    messages.append({"role": "assistant", "content": None, "tool_calls": calls})
    messages.append({"role": "tool", "tool_call_id": calls[0].id, "content": "18C"})
    litellm.completion(messages=messages, **kwargs)
    assert fake.requests[1].json["messages"][1]["tool_calls"][0]["function"]["name"] == "get_weather"


def test_anthropic_tool_loop_appends_reply_message_object(fake):
    fake.reply(Reply(json=anthropic_fixture("message_tool_use.json")),
               Reply(json=anthropic_fixture("message_text.json")))
    messages = [{"role": "user", "content": "What's the weather like in San Francisco?"}]
    kwargs = dict(model="anthropic/claude-3-5-sonnet-20241022", api_base=fake.url,
                  api_key="sk-ant-test-0123456789abcdefghij", tools=[WEATHER_TOOL])

    response = litellm.completion(messages=messages, **kwargs)
    assert response.choices[0].finish_reason == "tool_calls"
    message = response.choices[0].message
    messages.append(message)
    for call in message.tool_calls:
        messages.append({"role": "tool", "tool_call_id": call.id, "content": "15 degrees"})
    litellm.completion(messages=messages, **kwargs)

    turns = fake.requests[1].json["messages"]
    assert [t["role"] for t in turns] == ["user", "assistant", "user"]
    tool_use = [b for b in turns[1]["content"] if b["type"] == "tool_use"]
    assert tool_use == [{"type": "tool_use", "id": "toolu_01A09q90qw90lq917835lq9", "name": "get_weather",
                         "input": {"location": "San Francisco, CA", "unit": "celsius"}}]
    assert turns[2]["content"][0]["type"] == "tool_result"
    assert turns[2]["content"][0]["tool_use_id"] == "toolu_01A09q90qw90lq917835lq9"


@pytest.mark.anyio
async def test_async_loop_with_mock_response_keeps_objects_working():
    messages = [{"role": "user", "content": "Hi"}]
    for turn in range(3):
        response = await litellm.acompletion(model="gpt-4o", messages=messages, mock_response=f"answer {turn}")
        messages.append(response.choices[0].message)
        messages.append({"role": "user", "content": "more"})
    assert [m["content"] if isinstance(m, dict) else m.content for m in messages][-2] == "answer 2"


def test_token_counter_takes_message_objects():
    messages = [{"role": "user", "content": "Weather in Paris?"}]
    reply = litellm.completion(model="gpt-4o", messages=messages, mock_response="It is sunny in Paris today.")
    as_objects = messages + [reply.choices[0].message]
    as_dicts = messages + [{"role": "assistant", "content": "It is sunny in Paris today."}]
    assert litellm.token_counter(model="gpt-4o", messages=as_objects) == \
        litellm.token_counter(model="gpt-4o", messages=as_dicts) > litellm.token_counter(model="gpt-4o",
                                                                                        messages=messages)


def test_plain_dict_messages_pass_through_uncopied():
    from polyrelay.messages import as_message_dicts

    messages = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": None,
                                                     "tool_calls": [{"id": "1", "type": "function",
                                                                     "function": {"name": "f", "arguments": "{}"}}]}]
    assert as_message_dicts(messages) is messages


@pytest.mark.parametrize("model", [
    "openai/gpt-4o", "azure/my-deployment", "anthropic/claude-3-5-sonnet-20241022", "gemini/gemini-1.5-pro",
    "cohere/command-r-plus", "ollama/llama3.1", "bedrock/anthropic.claude-3-haiku-20240307-v1:0",
    "groq/llama3-8b-8192", "mistral/mistral-large-latest",
])
def test_every_provider_serialises_a_loop_with_reply_objects(model):
    """The second turn of a tool loop, built with the reply's own objects, as each
    provider's request: it serialises, and carries the tool call and its result."""
    import orjson

    from polyrelay.params import plan
    from polyrelay.providers.base import CHAT

    reply = litellm.completion(model="gpt-4o", messages=[{"role": "user", "content": "Weather in Paris?"}],
                               mock_tool_calls=[{"id": "call_abc", "type": "function", "function": {
                                   "name": "get_weather", "arguments": "{\"location\": \"Paris\"}"}}])
    message = reply.choices[0].message
    messages = [{"role": "user", "content": "Weather in Paris?"}, message,
                {"role": "tool", "tool_call_id": message.tool_calls[0].id, "content": "18 degrees"}]
    kwargs = {"api_base": "http://127.0.0.1:9", "api_key": "sk-test-0123456789", "api_version": "2024-06-01",
              "aws_access_key_id": "AKIDEXAMPLE", "aws_secret_access_key": "secret", "aws_region_name": "us-east-1",
              "tools": [WEATHER_TOOL]}
    p = plan(CHAT, model, {"messages": messages}, kwargs)
    body = orjson.dumps(p.adapter.build_request(p.call).json).decode()
    assert "get_weather" in body and "Paris" in body and "18 degrees" in body


def test_completion_cost_and_stream_chunk_builder_take_message_objects():
    messages = [{"role": "user", "content": "Hi"}]
    reply = litellm.completion(model="gpt-4o", messages=messages, mock_response="Hello! How can I help?")
    history = messages + [reply.choices[0].message, {"role": "user", "content": "Tell me more"}]
    assert litellm.completion_cost(model="gpt-4o", messages=history, completion="Sure.") > 0
    chunks = list(litellm.completion(model="gpt-4o", messages=history, stream=True, mock_response="Sure."))
    rebuilt = litellm.stream_chunk_builder(chunks, messages=history)
    assert rebuilt.choices[0].message.content == "Sure."
