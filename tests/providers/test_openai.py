"""OpenAI's protocol, end to end against a fake server on 127.0.0.1."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import openai
import pytest

import polyrelay
from fakeserver import Reply, sse

FIXTURES = Path(__file__).parent / "fixtures" / "openai"
MESSAGES = [{"role": "user", "content": "Hello!"}]
KEY = "sk-test-abcdefghijklmnop1234"


def fixture_json(name: str):
    return json.loads((FIXTURES / name).read_text())


def chat(fake, **kwargs):
    kwargs.setdefault("messages", MESSAGES)
    return polyrelay.completion(model=kwargs.pop("model", "openai/gpt-4o"), api_base=fake.url, api_key=KEY, **kwargs)


def test_chat_sends_openai_request_and_returns_typed_response(fake):
    fake.reply(Reply(json=fixture_json("chat_completion.json")))
    response = chat(fake, temperature=0.2, max_tokens=50, extra_headers={"X-Trace": "t1"}, seed=7)

    sent = fake.requests[0]
    assert (sent.method, sent.path) == ("POST", "/chat/completions")
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.headers["content-type"] == "application/json"
    assert sent.headers["x-trace"] == "t1"
    assert sent.json == {"model": "gpt-4o", "messages": MESSAGES, "temperature": 0.2, "max_tokens": 50, "seed": 7}

    assert response.object == "chat.completion"
    assert response.choices[0].message.content == "Hello! How can I assist you today?"
    assert response["choices"][0]["message"]["content"] == response.choices[0].message.content
    assert response.usage.total_tokens == response["usage"]["total_tokens"] == 29
    assert response.usage.prompt_tokens_details.cached_tokens == 0
    assert response.model_dump()["service_tier"] == "default"  # unknown fields are kept
    assert response._hidden_params["custom_llm_provider"] == "openai"
    assert response._hidden_params["api_base"] == fake.url
    assert response._hidden_params.get("usage_estimated") is None


def test_provider_env_variables_supply_key_and_base(fake, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_API_BASE", fake.url + "/v1")
    fake.reply(Reply(json=fixture_json("chat_completion.json")))
    polyrelay.completion(model="gpt-4o", messages=MESSAGES)
    assert fake.requests[0].path == "/v1/chat/completions"
    assert fake.requests[0].headers["authorization"] == f"Bearer {KEY}"


def test_missing_key_for_default_base_is_authentication_error(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_API_BASE", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(polyrelay.AuthenticationError, match="OPENAI_API_KEY"):
        polyrelay.completion(model="openai/gpt-4o", messages=MESSAGES)


def test_stream_relays_chunks_and_hides_usage_chunk_unless_asked(fake):
    body = (FIXTURES / "chat_stream.txt").read_bytes()
    fake.reply(Reply(stream=[body]))
    chunks = list(chat(fake, stream=True))
    assert fake.requests[0].json["stream"] is True
    # polyrelay always asks for usage upstream, so cost is exact...
    assert fake.requests[0].json["stream_options"] == {"include_usage": True}
    # ...but the caller who did not ask gets no usage-only chunk.
    assert all(c.choices for c in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Hello!"
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert chunks[0].object == "chat.completion.chunk"


def test_stream_include_usage_gives_one_final_usage_chunk(fake):
    fake.reply(Reply(stream=[(FIXTURES / "chat_stream.txt").read_bytes()]))
    chunks = list(chat(fake, stream=True, stream_options={"include_usage": True}))
    *content, last = chunks
    assert last.choices == [] and last.usage.total_tokens == 11 and last.usage.prompt_tokens == 9
    assert all(c.usage is None for c in content)
    assert all(c.model_dump()["usage"] is None for c in content)


def test_sse_events_split_across_reads_crlf_and_keepalive_comments(fake):
    first = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
             "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hel"}, "finish_reason": None}]}
    second = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
              "choices": [{"index": 0, "delta": {"content": "lo"}, "finish_reason": "stop"}]}
    raw = (b": keep-alive\r\n\r\n" + f"data: {json.dumps(first)}\r\n\r\n".encode()
           + b": ping\n\n" + f"data: {json.dumps(second)}\n\n".encode() + b"data: [DONE]\n\n")
    # Cut into 7-byte pieces, so events, lines and even \r\n pairs straddle reads.
    fake.reply(Reply(stream=[raw[i:i + 7] for i in range(0, len(raw), 7)], piece_delay=0.001))
    chunks = list(chat(fake, stream=True))
    assert [c.choices[0].delta.content for c in chunks] == ["Hel", "lo"]


def test_error_event_mid_stream_raises_mapped_error(fake):
    start = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
             "choices": [{"index": 0, "delta": {"content": "partial"}, "finish_reason": None}]}
    error = {"error": {"message": "Rate limit reached mid-stream", "type": "rate_limit_error", "code": None}}
    fake.reply(Reply(stream=sse(start, error, done=False)))
    stream = chat(fake, stream=True)
    assert next(stream).choices[0].delta.content == "partial"
    with pytest.raises(polyrelay.RateLimitError, match="mid-stream"):
        next(stream)


def test_stream_cut_off_without_done_raises_instead_of_passing_as_short_answer(fake):
    start = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
             "choices": [{"index": 0, "delta": {"content": "half an ans"}, "finish_reason": None}]}
    fake.reply(Reply(stream=sse(start, done=False) + [b'data: {"id": "c1", "obj']))
    with pytest.raises(polyrelay.APIConnectionError, match="ended before"):
        list(chat(fake, stream=True))


def test_stream_that_stalls_times_out(fake):
    start = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
             "choices": [{"index": 0, "delta": {"content": "x"}, "finish_reason": None}]}
    fake.reply(Reply(stream=sse(start, done=False) + [b""], piece_delay=2.0))
    with pytest.raises(polyrelay.Timeout):
        list(chat(fake, stream=True, timeout=0.5))


@pytest.mark.parametrize(
    ("status", "cls", "openai_cls"),
    [
        (400, polyrelay.BadRequestError, openai.BadRequestError),
        (401, polyrelay.AuthenticationError, openai.AuthenticationError),
        (403, polyrelay.PermissionDeniedError, openai.PermissionDeniedError),
        (404, polyrelay.NotFoundError, openai.NotFoundError),
        (408, polyrelay.Timeout, openai.APITimeoutError),
        (422, polyrelay.UnprocessableEntityError, openai.UnprocessableEntityError),
        (429, polyrelay.RateLimitError, openai.RateLimitError),
        (500, polyrelay.InternalServerError, openai.InternalServerError),
        (503, polyrelay.ServiceUnavailableError, openai.APIStatusError),
    ],
)
def test_status_maps_to_error_class(fake, status, cls, openai_cls):
    body = {"error": {"message": f"upstream said {status}", "type": "x", "param": None, "code": None}}
    fake.reply(Reply(status, json=body))
    with pytest.raises(cls) as caught:
        chat(fake)
    exc = caught.value
    assert isinstance(exc, openai_cls)
    assert exc.status_code == status
    assert exc.llm_provider == "openai" and exc.model == "gpt-4o"
    assert f"upstream said {status}" in str(exc)
    assert len(fake.requests) == 1  # no retries unless asked


def test_context_length_error_is_context_window_exceeded(fake):
    fake.reply(Reply(400, json=fixture_json("error_context_length.json")))
    with pytest.raises(polyrelay.ContextWindowExceededError) as caught:
        chat(fake)
    assert isinstance(caught.value, openai.BadRequestError)
    assert caught.value.code == "context_length_exceeded"


def test_error_messages_never_contain_the_key(fake):
    echoed = {"error": {"message": f"Incorrect API key provided: {KEY}", "type": "invalid_request_error",
                        "code": "invalid_api_key"}}
    fake.reply(Reply(401, json=echoed))
    with pytest.raises(polyrelay.AuthenticationError) as caught:
        chat(fake)
    assert KEY not in str(caught.value) and KEY not in caught.value.message
    assert "1234" in caught.value.message  # masked, not removed: the user can tell which key


def test_connection_refused_is_api_connection_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(polyrelay.APIConnectionError) as caught:
        polyrelay.completion(model="openai/gpt-4o", messages=MESSAGES, api_base=f"http://127.0.0.1:{port}", api_key=KEY)
    assert isinstance(caught.value, openai.APIConnectionError)


def test_slow_server_times_out(fake):
    fake.reply(Reply(json=fixture_json("chat_completion.json"), delay=1.5))
    with pytest.raises(polyrelay.Timeout) as caught:
        chat(fake, timeout=0.3)
    assert isinstance(caught.value, openai.APITimeoutError)
    assert caught.value.status_code == 408


def test_retries_honour_retry_after_then_succeed(fake):
    limited = {"error": {"message": "slow down", "type": "rate_limit_error", "code": "rate_limit_exceeded"}}
    fake.reply(Reply(429, json=limited, headers={"retry-after": "0"}),
               Reply(503, json={"error": {"message": "busy"}}, headers={"retry-after-ms": "10"}),
               Reply(json=fixture_json("chat_completion.json")))
    response = chat(fake, num_retries=2)
    assert response.choices[0].message.content.startswith("Hello")
    assert len(fake.requests) == 3


def test_auth_errors_are_not_retried(fake):
    fake.reply(Reply(401, json={"error": {"message": "bad key"}}), Reply(json=fixture_json("chat_completion.json")))
    with pytest.raises(polyrelay.AuthenticationError) as caught:
        chat(fake, num_retries=3)
    assert len(fake.requests) == 1 and caught.value.num_retries == 0


def test_text_completion_openai_uses_legacy_endpoint(fake):
    fake.reply(Reply(json=fixture_json("completion.json")))
    response = polyrelay.text_completion(model="text-completion-openai/gpt-3.5-turbo-instruct", prompt="Say this is a test",
                                         max_tokens=7, echo=False, suffix="!", best_of=1, logprobs=2,
                                         api_base=fake.url, api_key=KEY)
    assert fake.requests[0].path == "/completions"
    assert fake.requests[0].json == {"model": "gpt-3.5-turbo-instruct", "prompt": "Say this is a test",
                                     "max_tokens": 7, "echo": False, "suffix": "!", "best_of": 1, "logprobs": 2}
    assert response.object == "text_completion"
    assert response.choices[0].text == "\n\nThis is indeed a test"
    assert response.usage.total_tokens == 12


def test_text_completion_on_chat_model_bridges_both_ways(fake):
    fake.reply(Reply(json=fixture_json("chat_completion.json")))
    response = polyrelay.text_completion(model="openai/gpt-4o", prompt="Say hi", api_base=fake.url, api_key=KEY)
    assert fake.requests[0].path == "/chat/completions"
    assert fake.requests[0].json["messages"] == [{"role": "user", "content": "Say hi"}]
    assert response.object == "text_completion"
    assert response.choices[0].text == "Hello! How can I assist you today?"


def test_text_completion_bridge_refuses_text_only_params_unless_dropped(fake):
    with pytest.raises(polyrelay.UnsupportedParamsError, match="echo"):
        polyrelay.text_completion(model="openai/gpt-4o", prompt="x", echo=True, api_base=fake.url, api_key=KEY)
    fake.reply(Reply(json=fixture_json("chat_completion.json")))
    polyrelay.text_completion(model="openai/gpt-4o", prompt="x", echo=True, drop_params=True, api_base=fake.url, api_key=KEY)
    assert "echo" not in fake.requests[0].json


def test_chat_on_completion_only_model_bridges(fake):
    fake.reply(Reply(json=fixture_json("completion.json")))
    response = polyrelay.completion(model="gpt-3.5-turbo-instruct", messages=[{"role": "user", "content": "Say this is a test"}],
                                    api_base=fake.url, api_key=KEY)
    assert fake.requests[0].path == "/completions"
    assert fake.requests[0].json["prompt"] == "Say this is a test"
    assert response.object == "chat.completion"
    assert response.choices[0].message.content == "\n\nThis is indeed a test"


def test_streamed_text_completion_over_chat(fake):
    fake.reply(Reply(stream=[(FIXTURES / "chat_stream.txt").read_bytes()]))
    chunks = list(polyrelay.text_completion(model="openai/gpt-4o", prompt="hi", stream=True, api_base=fake.url, api_key=KEY,
                                            stream_options={"include_usage": True}))
    assert "".join(c.choices[0].text for c in chunks if c.choices) == "Hello!"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 2
    assert all(c.object == "text_completion" for c in chunks)


def test_embeddings_and_moderations(fake):
    fake.reply(Reply(json={"object": "list", "data": [{"object": "embedding", "index": 0, "embedding": [0.1, -0.2]}],
                           "model": "text-embedding-3-small", "usage": {"prompt_tokens": 8, "total_tokens": 8}}))
    emb = polyrelay.embedding(model="openai/text-embedding-3-small", input=["hello from litellm"], dimensions=2,
                              api_base=fake.url, api_key=KEY)
    assert fake.requests[0].path == "/embeddings"
    assert fake.requests[0].json == {"model": "text-embedding-3-small", "input": ["hello from litellm"], "dimensions": 2}
    assert emb.data[0].embedding == [0.1, -0.2] and emb.usage.prompt_tokens == 8

    fake.reply(Reply(json={"id": "modr-1", "model": "omni-moderation-latest", "results": [
        {"flagged": False, "categories": {"hate": False}, "category_scores": {"hate": 0.0001}}]}))
    mod = polyrelay.moderation(input="hello from litellm", api_base=fake.url, api_key=KEY)
    assert fake.requests[1].path == "/moderations"
    assert fake.requests[1].json == {"model": "omni-moderation-latest", "input": "hello from litellm"}
    assert mod.results[0].flagged is False and mod.results[0].categories["hate"] is False


def test_usage_missing_from_provider_is_counted_and_marked(fake):
    body = fixture_json("chat_completion.json")
    del body["usage"]
    fake.reply(Reply(json=body))
    response = chat(fake, model="openai/gpt-4o")
    assert response._hidden_params["usage_estimated"] is True
    assert response.usage.completion_tokens == 9  # "Hello! How can I assist you today?" in o200k_base
    assert response.usage.total_tokens == response.usage.prompt_tokens + response.usage.completion_tokens


@pytest.mark.anyio
async def test_acompletion_and_async_stream(fake):
    fake.reply(Reply(json=fixture_json("chat_completion.json")),
               Reply(stream=[(FIXTURES / "chat_stream.txt").read_bytes()]))
    response = await polyrelay.acompletion(model="openai/gpt-4o", messages=MESSAGES, api_base=fake.url, api_key=KEY)
    assert response.choices[0].finish_reason == "stop"
    stream = await polyrelay.acompletion(model="openai/gpt-4o", messages=MESSAGES, api_base=fake.url, api_key=KEY,
                                         stream=True, stream_options={"include_usage": True})
    chunks = [c async for c in stream]
    assert chunks[-1].usage.total_tokens == 11
    rebuilt = polyrelay.stream_chunk_builder(chunks, messages=MESSAGES)
    assert rebuilt.choices[0].message.content == "Hello!" and rebuilt.usage.total_tokens == 11


def test_a_cookie_set_by_the_provider_never_rides_on_a_later_call(fake):
    # One pooled session serves every caller of the process (every gateway user).
    body = fixture_json("chat_completion.json")
    fake.reply(Reply(json=body, headers={"Set-Cookie": "session=caller-a; Path=/"}), Reply(json=body))
    by_name = fake.url.replace("127.0.0.1", "localhost")  # cookie jars ignore cookies from bare IP addresses
    for _ in range(2):
        polyrelay.completion(model="openai/gpt-4o", messages=MESSAGES, api_base=by_name, api_key=KEY)
    assert "cookie" not in fake.requests[1].headers


def test_calls_go_through_the_configured_proxy(fake, monkeypatch):
    import asyncio

    monkeypatch.setenv("HTTP_PROXY", fake.url)  # the fake plays the proxy
    monkeypatch.setenv("NO_PROXY", "")
    fake.reply(Reply(json=fixture_json("chat_completion.json")))

    async def call():  # a new loop: a new upstream client, made while the proxy is set
        return await polyrelay.acompletion(model="openai/gpt-4o", messages=MESSAGES, api_key=KEY,
                                           api_base="http://upstream.invalid/v1")

    response = asyncio.run(call())
    assert response.choices[0].message.content
    sent = fake.requests[0]
    assert sent.path == "/v1/chat/completions" and sent.headers["host"] == "upstream.invalid"
