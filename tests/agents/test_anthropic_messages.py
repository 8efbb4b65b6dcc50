"""POST /v1/messages driven by the official ``anthropic`` SDK, against a real
gateway process: an OpenAI-compatible group (translated both ways), an
Anthropic group (the request reaches Anthropic in its own shape) and
mock/ groups; errors raise the SDK's own classes; spend is recorded."""

from __future__ import annotations

import asyncio
import json

import anthropic
import httpx
import pytest

import polyrelay

from agent_gateway import MASTER_KEY, new_key, spend_logs
from upstreams import ANTHROPIC_MESSAGE, anthropic_stream, chat_reply, last_tool_output
from fakeserver import Reply

WEATHER_TOOL = {"name": "get_weather", "description": "Weather in a city",
                "input_schema": {"type": "object", "properties": {"city": {"type": "string"}},
                                 "required": ["city"]}}


@pytest.fixture
def client(gateway):
    with anthropic.Anthropic(api_key=MASTER_KEY, base_url=gateway.url, max_retries=0) as sdk:
        yield sdk


def weather_agent(openai_upstream):
    """The upstream model: asks for the weather tool, then answers with what the tool said."""
    def respond(request):
        body = request.json
        output = last_tool_output(body)
        if output is None:
            return chat_reply(body, tool_calls=[{"id": "call_w1", "name": "get_weather",
                                                 "arguments": {"city": "Paris"}}])
        return chat_reply(body, text=f"The tool said: {output}")
    openai_upstream.responder = respond


def test_text_answer_translated_both_ways(client, openai_upstream):
    openai_upstream.responder = lambda r: chat_reply(r.json, text="Bonjour!")
    message = client.messages.create(
        model="agent-model", max_tokens=200, system="Answer in French.", extra_headers={"anthropic-beta": "x-1"},
        thinking={"type": "enabled", "budget_tokens": 1024},
        extra_body={"temperature": 0.3, "output_config": {"effort": "high"}, "context_management": {"edits": []}},
        stop_sequences=["END"], messages=[{"role": "user", "content": "Say hello"}])
    assert message.type == "message" and message.role == "assistant"
    assert [b.type for b in message.content] == ["text"] and message.content[0].text == "Bonjour!"
    assert message.stop_reason == "end_turn"
    # prompt 120 of which 20 cached: Anthropic counts the uncached part as input_tokens.
    assert (message.usage.input_tokens, message.usage.cache_read_input_tokens, message.usage.output_tokens) == \
        (100, 20, 30)
    assert "anthropic-beta" not in openai_upstream.requests[-1].headers  # ...and no other provider
    sent = openai_upstream.requests[-1].json
    assert sent["messages"] == [{"role": "system", "content": "Answer in French."},
                                {"role": "user", "content": "Say hello"}]
    assert sent["max_tokens"] == 200 and sent["temperature"] == 0.3 and sent["stop"] == ["END"]
    # Anthropic's own fields would be refused by an OpenAI-compatible provider: left out for it.
    assert not {"thinking", "output_config", "context_management", "native_params"} & set(sent)


def test_tool_round_trip_not_streamed(client, openai_upstream):
    weather_agent(openai_upstream)
    ask = [{"role": "user", "content": "Weather in Paris?"}]
    first = client.messages.create(model="agent-model", max_tokens=200, messages=ask, tools=[WEATHER_TOOL],
                                   tool_choice={"type": "auto"})
    assert first.stop_reason == "tool_use"
    (call,) = [b for b in first.content if b.type == "tool_use"]
    assert (call.id, call.name, call.input) == ("call_w1", "get_weather", {"city": "Paris"})
    sent_tools = openai_upstream.requests[-1].json["tools"]
    assert sent_tools == [{"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
                                                            "parameters": WEATHER_TOOL["input_schema"]}}]
    second = client.messages.create(
        model="agent-model", max_tokens=200, tools=[WEATHER_TOOL],
        messages=[*ask, {"role": "assistant", "content": first.content},
                  {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_w1",
                                                "content": [{"type": "text", "text": "18C and sunny"}]}]}])
    assert second.content[0].text == "The tool said: 18C and sunny"
    sent = openai_upstream.requests[-1].json["messages"]
    assert sent[1]["tool_calls"][0]["id"] == "call_w1"
    assert sent[2] == {"role": "tool", "tool_call_id": "call_w1", "content": "18C and sunny"}


def test_stream_with_tool_call_events(client, openai_upstream):
    weather_agent(openai_upstream)
    with client.messages.stream(model="agent-model", max_tokens=200, tools=[WEATHER_TOOL],
                                messages=[{"role": "user", "content": "Weather?"}]) as stream:
        kinds = [(e.type, getattr(getattr(e, "delta", None), "type", None)) for e in stream]
        final = stream.get_final_message()
    assert kinds[0] == ("message_start", None)
    assert ("content_block_delta", "input_json_delta") in kinds
    assert kinds[-2:] == [("message_delta", None), ("message_stop", None)]
    (call,) = final.content
    assert call.type == "tool_use" and call.input == {"city": "Paris"} and final.stop_reason == "tool_use"
    assert final.usage.output_tokens == 30 and final.usage.input_tokens == 100


def test_raw_sse_framing_has_event_names_and_ping(gateway, openai_upstream):
    openai_upstream.responder = lambda r: chat_reply(r.json, text="Hi")
    response = httpx.post(gateway.url + "/v1/messages?beta=true", headers={"x-api-key": MASTER_KEY,
                                                                           "anthropic-version": "2023-06-01"},
                          json={"model": "agent-model", "max_tokens": 50, "stream": True,
                                "messages": [{"role": "user", "content": "hi"}]}, timeout=20)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    names = [line[7:] for line in response.text.splitlines() if line.startswith("event: ")]
    assert names == ["message_start", "ping", "content_block_start", "content_block_delta", "content_block_delta",
                     "content_block_stop", "message_delta", "message_stop"]
    assert "[DONE]" not in response.text


def test_anthropic_group_gets_cache_control_thinking_and_images(client, anthropic_upstream):
    anthropic_upstream.reply(Reply(json=ANTHROPIC_MESSAGE))
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="},
             "cache_control": {"type": "ephemeral"}}
    system = [{"type": "text", "text": "You are terse.", "cache_control": {"type": "ephemeral"}}]
    earlier = [{"type": "thinking", "thinking": "Earlier thought.", "signature": "sig-old"},
               {"type": "text", "text": "Earlier answer."}]
    message = client.messages.create(
        model="claude-group", max_tokens=2048, system=system, extra_headers={"anthropic-beta": "context-management-2025-06-27"}, thinking={"type": "enabled", "budget_tokens": 1024},
        extra_body={"output_config": {"effort": "high"}, "context_management": {"edits": []}},
        metadata={"user_id": "user-7"},
        messages=[{"role": "user", "content": "First question"}, {"role": "assistant", "content": earlier},
                  {"role": "user", "content": [image, {"type": "text", "text": "Capital of France?"}]}])
    sent = anthropic_upstream.requests[-1]
    assert sent.path == "/v1/messages" and sent.headers["x-api-key"] == "sk-ant-upstream"
    assert sent.headers["anthropic-beta"] == "context-management-2025-06-27"  # betas reach Anthropic
    body = sent.json
    assert body["system"] == system and body["thinking"] == {"type": "enabled", "budget_tokens": 1024}
    assert body["output_config"] == {"effort": "high"} and body["context_management"] == {"edits": []}
    assert body["metadata"] == {"user_id": "user-7"}
    assert body["messages"][1]["content"] == earlier  # the signed thinking block goes back as it came
    assert body["messages"][2]["content"] == [image, {"type": "text", "text": "Capital of France?"}]
    assert [b.type for b in message.content] == ["thinking", "text"]
    assert message.content[0].signature == "sig-abc"
    usage = message.usage
    assert (usage.input_tokens, usage.output_tokens, usage.cache_creation_input_tokens,
            usage.cache_read_input_tokens) == (12, 9, 100, 300)


def test_anthropic_group_stream_has_thinking_deltas(client, anthropic_upstream):
    anthropic_upstream.reply(Reply(stream=anthropic_stream("Hello there")))
    with client.messages.stream(model="claude-group", max_tokens=2048,
                                thinking={"type": "enabled", "budget_tokens": 1024},
                                messages=[{"role": "user", "content": "hi"}]) as stream:
        deltas = [e.delta.type for e in stream if e.type == "content_block_delta"]
        final = stream.get_final_message()
    assert "thinking_delta" in deltas and "text_delta" in deltas
    assert [b.type for b in final.content] == ["thinking", "text"]
    assert final.content[0].thinking == "Let me think." and final.content[1].text == "Hello there"
    assert final.usage.cache_read_input_tokens == 40 and final.usage.output_tokens == 7


def test_errors_raise_the_sdks_classes(gateway, client, openai_upstream):
    with pytest.raises(anthropic.AuthenticationError) as refused:
        anthropic.Anthropic(api_key="sk-wrong", base_url=gateway.url, max_retries=0).messages.create(
            model="agent-model", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    assert refused.value.body["type"] == "error" and refused.value.body["error"]["type"] == "authentication_error"
    with pytest.raises(anthropic.BadRequestError) as bad:
        client.messages.create(model="agent-model", max_tokens=10, messages="not a list")  # type: ignore[arg-type]
    assert bad.value.body["type"] == "error" and bad.value.body["error"]["type"] == "invalid_request_error"
    with pytest.raises(anthropic.RateLimitError) as limited:
        client.messages.create(model="mock-group", max_tokens=10, messages=[{"role": "user", "content": "hi"}],
                               extra_body={"mock_response": "litellm.RateLimitError"})
    assert limited.value.body["error"]["type"] == "rate_limit_error"
    openai_upstream.reply(Reply(500, json={"error": {"message": "upstream broke", "type": "server_error"}}))
    with pytest.raises(anthropic.InternalServerError) as broken:
        client.messages.create(model="agent-model", max_tokens=10, messages=[{"role": "user", "content": "hi"}],
                               extra_body={"num_retries": 0})
    assert broken.value.body["error"]["type"] == "api_error"
    key = new_key(gateway, models=["mock-group"])
    with pytest.raises(anthropic.PermissionDeniedError):
        anthropic.Anthropic(api_key=key, base_url=gateway.url, max_retries=0).messages.create(
            model="agent-model", max_tokens=10, messages=[{"role": "user", "content": "hi"}])


def test_error_after_the_stream_started_is_an_error_event(gateway, openai_upstream):
    base = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m"}
    first = {**base, "choices": [{"index": 0, "delta": {"content": "Hel"}, "finish_reason": None}]}
    openai_upstream.reply(Reply(stream=[f"data: {json.dumps(first)}\n\n".encode(),
                                        b'data: {"error": {"message": "overloaded", "type": "server_error"}}\n\n']))
    client = anthropic.Anthropic(api_key=MASTER_KEY, base_url=gateway.url, max_retries=0)
    with pytest.raises(anthropic.APIStatusError):
        with client.messages.stream(model="agent-model", max_tokens=10,
                                    messages=[{"role": "user", "content": "hi"}]) as stream:
            for _ in stream:
                pass


def test_keys_spend_and_fallbacks_apply(gateway, openai_upstream):
    openai_upstream.responder = lambda r: chat_reply(r.json, text="rescued")
    key = new_key(gateway)
    client = anthropic.Anthropic(auth_token=key, base_url=gateway.url, max_retries=0)  # Authorization: Bearer
    raw = client.messages.with_raw_response.create(model="broken-group", max_tokens=20,
                                                   messages=[{"role": "user", "content": "hi"}])
    assert raw.parse().content[0].text == "rescued"  # broken-group fell back to rescue-group
    call_id = raw.headers["x-polyrelay-call-id"]
    (record,) = spend_logs(gateway, key)
    assert record["request_id"] == call_id and record["call_type"] == "anthropic_messages"
    assert record["prompt_tokens"] == 120 and record["completion_tokens"] == 30 and record["status"] == "success"


def test_budget_exceeded_is_refused_before_the_call(gateway, openai_upstream):
    key = new_key(gateway, max_budget=0.0)
    client = anthropic.Anthropic(api_key=key, base_url=gateway.url, max_retries=0)
    openai_upstream.responder = lambda r: chat_reply(r.json, text="should not be asked")
    before = len(openai_upstream.requests)
    with pytest.raises(anthropic.APIStatusError) as refused:
        client.messages.create(model="agent-model", max_tokens=20, messages=[{"role": "user", "content": "hi"}])
    assert refused.value.status_code in (400, 429) and "budget" in refused.value.message.lower()
    assert len(openai_upstream.requests) == before


def test_count_tokens(client):
    counted = client.messages.count_tokens(model="agent-model", system="Be brief.",
                                           messages=[{"role": "user", "content": "How many tokens is this?"}])
    longer = client.messages.count_tokens(model="agent-model", system="Be brief.", tools=[WEATHER_TOOL],
                                          messages=[{"role": "user", "content": "How many tokens is this?"}])
    assert 5 < counted.input_tokens < longer.input_tokens


def test_async_client(gateway, openai_upstream):
    openai_upstream.responder = lambda r: chat_reply(r.json, text="async hello")

    async def run():
        async with anthropic.AsyncAnthropic(api_key=MASTER_KEY, base_url=gateway.url, max_retries=0) as sdk:
            plain = await sdk.messages.create(model="agent-model", max_tokens=20,
                                              messages=[{"role": "user", "content": "hi"}])
            async with sdk.messages.stream(model="agent-model", max_tokens=20,
                                           messages=[{"role": "user", "content": "hi"}]) as stream:
                text = "".join([t async for t in stream.text_stream])
            return plain.content[0].text, text

    assert asyncio.run(run()) == ("async hello", "async hello")


def test_anthropic_group_cost_counts_cache_reads_and_writes(gateway, anthropic_upstream):
    anthropic_upstream.reply(Reply(json=ANTHROPIC_MESSAGE))
    key = new_key(gateway)
    client = anthropic.Anthropic(api_key=key, base_url=gateway.url, max_retries=0)
    raw = client.messages.with_raw_response.create(model="claude-group", max_tokens=100,
                                                   messages=[{"role": "user", "content": "hi"}])
    cost = float(raw.headers["x-polyrelay-response-cost"])
    (record,) = spend_logs(gateway, key)
    assert record["call_type"] == "anthropic_messages" and record["spend"] == pytest.approx(cost)
    # 12 uncached + 100 written + 300 read: the whole prompt, with the cache classes priced as such.
    assert record["prompt_tokens"] == 412 and record["cached_tokens"] == 300
    uncached_only = polyrelay.cost_per_token(model="claude-sonnet-4-5", prompt_tokens=412, completion_tokens=9)
    assert 0 < cost < sum(uncached_only)  # cache reads are cheaper than plain input
