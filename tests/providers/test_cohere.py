"""Cohere's v2 chat protocol, end to end against a fake server on 127.0.0.1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import polyrelay
from fakeserver import Reply

FIXTURES = Path(__file__).parent / "fixtures" / "cohere"
MESSAGES = [{"role": "user", "content": "What is an LLM?"}]
KEY = "co-test-key-abcdefghijklmnop123456"
TOOL = {"type": "function", "function": {"name": "get_weather", "description": "Gets the weather",
                                         "parameters": {"type": "object", "properties": {"location": {"type": "string"}}}}}


def fixture_json(name: str):
    return json.loads((FIXTURES / name).read_text())


def sse_fixture(name: str) -> list[bytes]:
    return [piece + b"\n\n" for piece in (FIXTURES / name).read_bytes().split(b"\n\n") if piece.strip()]


def chat(fake, **kwargs):
    kwargs.setdefault("messages", MESSAGES)
    return polyrelay.completion(model=kwargs.pop("model", "cohere/command-r-plus"), api_base=fake.url, api_key=KEY,
                                **kwargs)


def test_chat_request_and_response(fake):
    fake.reply(Reply(json=fixture_json("chat.json")))
    response = chat(fake, messages=[{"role": "system", "content": "Be brief."}, *MESSAGES], temperature=0.3,
                    top_p=0.75, max_tokens=200, stop=["\n\n"], seed=5, frequency_penalty=0.1, presence_penalty=0.2,
                    safety_mode="STRICT")
    sent = fake.requests[0]
    assert (sent.method, sent.path) == ("POST", "/v2/chat")
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.json == {
        "model": "command-r-plus",
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is an LLM?"}],
        "temperature": 0.3, "p": 0.75, "seed": 5, "frequency_penalty": 0.1, "presence_penalty": 0.2,
        "max_tokens": 200, "stop_sequences": ["\n\n"], "safety_mode": "STRICT",
    }
    assert response.id == "c14c80c3-18eb-4519-9460-6c92edd8cfb4"
    assert response.choices[0].message.content.startswith("LLMs stand for Large Language Models")
    assert response.choices[0].finish_reason == "stop"
    assert (response.usage.prompt_tokens, response.usage.completion_tokens, response.usage.total_tokens) == (215, 26, 241)
    assert response.usage.model_dump()["billed_units"] == {"input_tokens": 17, "output_tokens": 26}
    assert response._hidden_params["custom_llm_provider"] == "cohere"


@pytest.mark.parametrize("env", ["COHERE_API_KEY", "CO_API_KEY"])
def test_env_key(fake, monkeypatch, env):
    monkeypatch.delenv("COHERE_API_KEY", raising=False)
    monkeypatch.delenv("CO_API_KEY", raising=False)
    monkeypatch.setenv(env, KEY)
    fake.reply(Reply(json=fixture_json("chat.json")))
    polyrelay.completion(model="cohere/command-r-plus", messages=MESSAGES, api_base=fake.url)
    assert fake.requests[0].headers["authorization"] == f"Bearer {KEY}"


def test_missing_key_for_default_base(monkeypatch):
    monkeypatch.delenv("COHERE_API_KEY", raising=False)
    monkeypatch.delenv("CO_API_KEY", raising=False)
    with pytest.raises(polyrelay.AuthenticationError):
        polyrelay.completion(model="cohere/command-r-plus", messages=MESSAGES)


def test_tool_call_and_result(fake):
    fake.reply(Reply(json=fixture_json("chat_tool_call.json")), Reply(json=fixture_json("chat.json")))
    response = chat(fake, tools=[TOOL], tool_choice="required", response_format={"type": "json_object"})
    sent = fake.requests[0].json
    assert sent["tools"] == [TOOL]
    assert sent["tool_choice"] == "REQUIRED"
    assert sent["response_format"] == {"type": "json_object"}
    choice = response.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    call = choice.message.tool_calls[0]
    assert (call.id, call.function.name, call.function.arguments) == (
        "get_weather_1byjy32y4hvq", "get_weather", '{"location":"Toronto"}')

    history = [*MESSAGES, choice.message.model_dump(exclude_none=True),
               {"role": "tool", "tool_call_id": call.id, "content": '{"temperature": 20}'}]
    chat(fake, messages=history, tools=[TOOL])
    assert fake.requests[1].json["messages"][1:] == [
        {"role": "assistant", "tool_calls": [{"id": "get_weather_1byjy32y4hvq", "type": "function",
                                              "function": {"name": "get_weather", "arguments": '{"location":"Toronto"}'}}]},
        {"role": "tool", "tool_call_id": "get_weather_1byjy32y4hvq", "content": '{"temperature": 20}'},
    ]


def test_image_input(fake):
    fake.reply(Reply(json=fixture_json("chat.json")))
    url = "data:image/png;base64,iVBORw0KGgo="
    chat(fake, messages=[{"role": "user", "content": [{"type": "text", "text": "What is this?"},
                                                      {"type": "image_url", "image_url": url}]}])
    assert fake.requests[0].json["messages"][0]["content"] == [
        {"type": "text", "text": "What is this?"}, {"type": "image_url", "image_url": {"url": url}}]


def test_max_tokens_finish(fake):
    body = fixture_json("chat.json")
    body["finish_reason"] = "MAX_TOKENS"
    fake.reply(Reply(json=body))
    assert chat(fake).choices[0].finish_reason == "length"


def test_stream(fake):
    fake.reply(Reply(stream=sse_fixture("stream.sse"), piece_delay=0.01))
    chunks = list(chat(fake, stream=True))
    sent = fake.requests[0]
    assert sent.json["stream"] is True
    assert sent.headers["accept"] == "text/event-stream"
    assert [c.choices[0].delta.content for c in chunks] == ["A large", " language model", None]
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert {c.id for c in chunks} == {"29f14a5a-11de-4cae-9800-25e4747408ea"}
    assert all(c.usage is None for c in chunks)


def test_stream_include_usage(fake):
    fake.reply(Reply(stream=sse_fixture("stream.sse")))
    chunks = list(chat(fake, stream=True, stream_options={"include_usage": True}))
    assert chunks[-1].choices == []
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens, chunks[-1].usage.total_tokens) == (
        201, 4, 205)


def test_stream_tool_calls(fake):
    fake.reply(Reply(stream=sse_fixture("stream_tool_call.sse")))
    chunks = list(chat(fake, stream=True, tools=[TOOL]))
    built = polyrelay.stream_chunk_builder(chunks)
    calls = built.choices[0].message.tool_calls
    assert [c.id for c in calls] == ["get_weather_p0dage9q1nv4", "get_weather_ay6nmvjgp9vn"]
    assert [json.loads(c.function.arguments) for c in calls] == [{"location": "Madrid"}, {"location": "Brasilia"}]
    assert built.choices[0].finish_reason == "tool_calls"
    assert built.choices[0].message.content is None
    starts = [c.choices[0].delta.tool_calls[0] for c in chunks if c.choices[0].delta.tool_calls]
    assert [s.index for s in starts] == [0, 0, 0, 1, 1]


def test_cut_stream_raises(fake):
    fake.reply(Reply(stream=sse_fixture("stream.sse")[:3]))
    with pytest.raises(polyrelay.APIConnectionError):
        list(chat(fake, stream=True))


@pytest.mark.parametrize(("status", "cls"), [
    (400, polyrelay.BadRequestError), (401, polyrelay.AuthenticationError), (498, polyrelay.AuthenticationError),
    (404, polyrelay.NotFoundError), (422, polyrelay.UnprocessableEntityError), (429, polyrelay.RateLimitError),
    (500, polyrelay.InternalServerError), (503, polyrelay.ServiceUnavailableError),
])
def test_errors(fake, status, cls):
    fake.reply(Reply(status, json={"message": f"request failed for key {KEY}"}))
    with pytest.raises(cls) as caught:
        chat(fake)
    exc = caught.value
    assert (exc.llm_provider, exc.model) == ("cohere", "command-r-plus")
    assert "request failed" in exc.message
    assert KEY not in str(exc) and KEY not in exc.message


def test_too_many_tokens_is_context_window_error(fake):
    fake.reply(Reply(400, json={"message": "too many tokens: total number of tokens in the prompt cannot exceed "
                                           "128000 - received 131234. Try using a shorter prompt"}))
    with pytest.raises(polyrelay.ContextWindowExceededError):
        chat(fake)


def test_embeddings(fake):
    fake.reply(Reply(json=fixture_json("embed.json")))
    response = polyrelay.embedding(model="cohere/embed-english-v3.0", input=["hello", "goodbye"], api_base=fake.url,
                                   api_key=KEY)
    sent = fake.requests[0]
    assert (sent.path, sent.json) == ("/v2/embed", {"model": "embed-english-v3.0", "texts": ["hello", "goodbye"],
                                                    "input_type": "search_document", "embedding_types": ["float"]})
    assert [d.embedding[0] for d in response.data] == [pytest.approx(0.016296387), pytest.approx(-0.0010738373)]
    assert response.usage.prompt_tokens == 2


def test_embedding_input_type_passes_through(fake):
    fake.reply(Reply(json=fixture_json("embed.json")))
    polyrelay.embedding(model="cohere/embed-english-v3.0", input="hello", input_type="search_query",
                        api_base=fake.url, api_key=KEY)
    assert fake.requests[0].json["input_type"] == "search_query"
    assert fake.requests[0].json["texts"] == ["hello"]
