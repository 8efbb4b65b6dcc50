"""POST/GET/DELETE /v1/responses driven by the ``openai`` SDK's
``client.responses``, against a real gateway process: translated to chat for
an OpenAI-compatible group, streamed as Responses events, function tools,
``previous_response_id`` and ``store`` per key, errors, spend."""

from __future__ import annotations

import asyncio
import json
import time

import openai
import pytest
import sqlalchemy

from agent_gateway import MASTER_KEY, new_key, spend_logs
from fakeserver import Reply
from upstreams import chat_reply, last_tool_output

WEATHER_TOOL = {"type": "function", "name": "get_weather", "description": "Weather in a city",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}


@pytest.fixture
def client(gateway):
    with openai.OpenAI(api_key=MASTER_KEY, base_url=gateway.url + "/v1", max_retries=0) as sdk:
        yield sdk


def weather_agent(openai_upstream):
    def respond(request):
        body = request.json
        output = last_tool_output(body)
        if output is None:
            return chat_reply(body, tool_calls=[{"id": "call_w1", "name": "get_weather",
                                                 "arguments": {"city": "Paris"}}])
        return chat_reply(body, text=f"The tool said: {output}")
    openai_upstream.responder = respond


def test_text_with_instructions_and_usage(client, openai_upstream):
    openai_upstream.responder = lambda r: chat_reply(r.json, text="Bonjour!")
    response = client.responses.create(model="agent-model", instructions="Answer in French.", input="Say hello",
                                       max_output_tokens=100, temperature=0.2)
    assert response.object == "response" and response.status == "completed" and response.id.startswith("resp_")
    assert response.output_text == "Bonjour!"
    assert response.output[0].type == "message" and response.output[0].role == "assistant"
    usage = response.usage
    assert (usage.input_tokens, usage.output_tokens, usage.total_tokens) == (120, 30, 150)
    assert usage.input_tokens_details.cached_tokens == 20
    sent = openai_upstream.requests[-1].json
    assert sent["messages"] == [{"role": "system", "content": "Answer in French."},
                                {"role": "user", "content": "Say hello"}]
    assert sent["max_tokens"] == 100 and sent["temperature"] == 0.2


def test_function_tool_round_trip(client, openai_upstream):
    weather_agent(openai_upstream)
    first = client.responses.create(model="agent-model", input="Weather in Paris?", tools=[WEATHER_TOOL])
    (call,) = first.output
    assert call.type == "function_call" and call.name == "get_weather" and call.call_id == "call_w1"
    assert json.loads(call.arguments) == {"city": "Paris"}
    assert openai_upstream.requests[-1].json["tools"][0]["function"]["name"] == "get_weather"
    second = client.responses.create(
        model="agent-model", tools=[WEATHER_TOOL],
        input=[{"role": "user", "content": "Weather in Paris?"},
               {"type": "function_call", "call_id": "call_w1", "name": "get_weather", "arguments": call.arguments},
               {"type": "function_call_output", "call_id": "call_w1", "output": "18C and sunny"}])
    assert second.output_text == "The tool said: 18C and sunny"
    sent = openai_upstream.requests[-1].json["messages"]
    assert sent[1]["tool_calls"][0]["id"] == "call_w1"
    assert sent[2] == {"role": "tool", "tool_call_id": "call_w1", "content": "18C and sunny"}


def test_stream_events(client, openai_upstream):
    weather_agent(openai_upstream)
    events = list(client.responses.create(model="agent-model", input="Weather?", tools=[WEATHER_TOOL], stream=True))
    kinds = [e.type for e in events]
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert "response.function_call_arguments.delta" in kinds and "response.function_call_arguments.done" in kinds
    assert kinds[-1] == "response.completed"
    assert [e.sequence_number for e in events] == list(range(len(events)))
    done = events[-1].response
    assert done.output[0].type == "function_call" and json.loads(done.output[0].arguments) == {"city": "Paris"}
    assert done.usage.input_tokens == 120 and done.usage.output_tokens == 30

    openai_upstream.responder = lambda r: chat_reply(r.json, text="Hello there")
    with client.responses.stream(model="agent-model", input="hi") as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == "Hello there" == final.output_text


def test_previous_response_id_and_store_per_key(gateway, openai_upstream):
    openai_upstream.responder = lambda r: chat_reply(r.json, text=f"answer {len(r.json['messages'])}")
    mine = openai.OpenAI(api_key=new_key(gateway), base_url=gateway.url + "/v1", max_retries=0)
    theirs = openai.OpenAI(api_key=new_key(gateway), base_url=gateway.url + "/v1", max_retries=0)
    first = mine.responses.create(model="agent-model", instructions="Be brief.", input="My name is Ada.")
    second = mine.responses.create(model="agent-model", input="What is my name?", previous_response_id=first.id)
    sent = openai_upstream.requests[-1].json["messages"]
    # The first turn (not its instructions: they do not carry over) comes before the new input.
    assert sent == [{"role": "user", "content": "My name is Ada."}, {"role": "assistant", "content": "answer 2"},
                    {"role": "user", "content": "What is my name?"}]
    assert mine.responses.retrieve(second.id).output_text == second.output_text
    with pytest.raises(openai.NotFoundError):
        theirs.responses.retrieve(first.id)  # another key cannot read it...
    with pytest.raises(openai.NotFoundError):
        theirs.responses.create(model="agent-model", input="hi", previous_response_id=first.id)  # ...or continue it
    unstored = mine.responses.create(model="agent-model", input="forget me", store=False)
    with pytest.raises(openai.NotFoundError):
        mine.responses.retrieve(unstored.id)
    with pytest.raises(openai.NotFoundError):
        theirs.responses.delete(first.id)
    mine.responses.delete(first.id)
    with pytest.raises(openai.NotFoundError):
        mine.responses.retrieve(first.id)


def test_stored_responses_are_written_to_the_database(gateway, client, openai_upstream):
    """Stored in the database (not only in the process memory), under the key that made it."""
    openai_upstream.responder = lambda r: chat_reply(r.json, text="kept")
    first = client.responses.create(model="agent-model", input="remember")
    time.sleep(0.5)  # the write runs in the background
    engine = sqlalchemy.create_engine(f"sqlite:///{gateway._dir.name}/polyrelay.db")
    with engine.connect() as connection:
        rows = connection.execute(sqlalchemy.text("SELECT response_id, owner FROM responses WHERE response_id = :i"),
                                  {"i": first.id}).all()
    assert rows == [(first.id, "master")]


def test_errors(gateway, client, openai_upstream):
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(api_key="sk-wrong", base_url=gateway.url + "/v1", max_retries=0).responses.create(
            model="agent-model", input="hi")
    with pytest.raises(openai.NotFoundError) as missing:
        client.responses.create(model="agent-model", input="hi", previous_response_id="resp_nope")
    assert missing.value.code == "previous_response_not_found"
    with pytest.raises(openai.RateLimitError):
        client.responses.create(model="mock-group", input="hi", extra_body={"mock_response": "litellm.RateLimitError"})
    with pytest.raises(openai.BadRequestError):
        client.responses.create(model="agent-model", input=[{"type": "mystery_item"}])


def test_failure_after_the_stream_began_is_response_failed(client, openai_upstream):
    base = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m"}
    first = {**base, "choices": [{"index": 0, "delta": {"content": "Hel"}, "finish_reason": None}]}
    openai_upstream.reply(Reply(stream=[f"data: {json.dumps(first)}\n\n".encode(),
                                        b'data: {"error": {"message": "overloaded", "type": "server_error"}}\n\n']))
    events = list(client.responses.create(model="agent-model", input="hi", stream=True))
    assert events[-1].type == "response.failed" and events[-1].response.status == "failed"
    assert "overloaded" in events[-1].response.error.message


def test_spend_and_fallbacks(gateway, openai_upstream):
    openai_upstream.responder = lambda r: chat_reply(r.json, text="rescued")
    key = new_key(gateway)
    client = openai.OpenAI(api_key=key, base_url=gateway.url + "/v1", max_retries=0)
    raw = client.responses.with_raw_response.create(model="broken-group", input="hi")
    assert raw.parse().output_text == "rescued"
    (record,) = spend_logs(gateway, key)
    assert record["request_id"] == raw.headers["x-polyrelay-call-id"] and record["call_type"] == "responses"
    assert record["prompt_tokens"] == 120 and record["completion_tokens"] == 30


def test_async_client(gateway, openai_upstream):
    openai_upstream.responder = lambda r: chat_reply(r.json, text="async hello")

    async def run():
        async with openai.AsyncOpenAI(api_key=MASTER_KEY, base_url=gateway.url + "/v1", max_retries=0) as sdk:
            plain = await sdk.responses.create(model="agent-model", input="hi")
            stream = await sdk.responses.create(model="agent-model", input="hi", stream=True)
            deltas = [e.delta async for e in stream if e.type == "response.output_text.delta"]
            return plain.output_text, "".join(deltas)

    assert asyncio.run(run()) == ("async hello", "async hello")
