"""Real clients against a real gateway process on the embedded default
config (no --config: mock/ model groups, no keys, no network) — the
README's first command. The `openai` SDK (sync and async, streaming and
not) and LangChain's ChatOpenAI must work unchanged."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import openai
import pytest

from gateway_process import GatewayProcess

HELLO = [{"role": "user", "content": "this is a test request, write a short poem"}]
MOCK_ANSWER = "This is a mock response to: this is a test request, write a short poem"


@pytest.fixture(scope="module")
def gateway():
    process = GatewayProcess().start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def client(gateway):
    with openai.OpenAI(api_key="anything", base_url=gateway.url) as sdk:
        yield sdk


def test_embedded_default_serves_mock_groups_with_no_keys(gateway, client):
    names = [m.id for m in client.models.list().data]
    assert "mock" in names and "gpt-3.5-turbo" in names and "text-embedding-ada-002" in names
    assert "embedded default" in gateway.log


def test_chat_with_metadata_as_in_the_proxy_docs(client):
    response = client.chat.completions.create(
        model="gpt-3.5-turbo", messages=HELLO,
        extra_body={"metadata": {"generation_name": "ishaan-generation-openai-client",
                                 "generation_id": "openai-client-gen-id22", "trace_id": "openai-client-trace-id22",
                                 "trace_user_id": "openai-client-user-id2"}})
    assert response.object == "chat.completion"
    assert response.choices[0].message.content == MOCK_ANSWER
    assert response.choices[0].finish_reason == "stop"
    usage = response.usage
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens > 0
    assert isinstance(response.model_extra["_response_ms"], float)


def test_response_headers(client):
    raw = client.chat.completions.with_raw_response.create(model="mock", messages=HELLO)
    headers = raw.headers
    uuid.UUID(headers["x-polyrelay-call-id"])
    assert float(headers["x-polyrelay-overhead-ms"]) >= 0
    assert float(headers["x-polyrelay-response-cost"]) >= 0
    assert headers["x-polyrelay-model-id"]
    assert raw.parse().choices[0].message.content == MOCK_ANSWER


def test_v1_prefix_and_bare_paths_both_serve(gateway):
    for base in (gateway.url, gateway.url + "/v1"):
        with openai.OpenAI(api_key="x", base_url=base) as sdk:
            assert sdk.chat.completions.create(model="mock", messages=HELLO).choices[0].message.content == MOCK_ANSWER


def test_sync_stream_with_include_usage(client):
    chunks = list(client.chat.completions.create(model="gpt-4o", messages=HELLO, stream=True,
                                                  stream_options={"include_usage": True}))
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == MOCK_ANSWER
    assert chunks[0].choices[0].delta.role == "assistant"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    last = chunks[-1]
    assert last.choices == [] and last.usage.completion_tokens > 0
    assert all(c.usage is None for c in chunks[:-1])


def test_stream_without_include_usage_sends_no_usage_chunk(client):
    chunks = list(client.chat.completions.create(model="mock", messages=HELLO, stream=True))
    assert all(c.choices for c in chunks)
    assert all(c.usage is None for c in chunks)


def test_raw_sse_framing(gateway):
    body = {"model": "mock", "messages": HELLO, "stream": True, "stream_options": {"include_usage": True}}
    with httpx.stream("POST", gateway.url + "/chat/completions", json=body) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        uuid.UUID(response.headers["x-polyrelay-call-id"])
        raw = response.read().decode()
    events = raw.split("\n\n")
    assert events[-1] == "" and events[-2] == "data: [DONE]"
    assert all(e.startswith("data: {") for e in events[:-2])


def test_async_chat_and_stream(gateway):
    async def run():
        async with openai.AsyncOpenAI(api_key="x", base_url=gateway.url + "/v1") as sdk:
            response = await sdk.chat.completions.create(model="mock", messages=HELLO)
            stream = await sdk.chat.completions.create(model="mock", messages=HELLO, stream=True)
            pieces = [c.choices[0].delta.content or "" async for c in stream]
            # Several at once on one event loop.
            many = await asyncio.gather(*(sdk.chat.completions.create(
                model="mock", messages=[{"role": "user", "content": f"n{i}"}]) for i in range(10)))
            return response, "".join(pieces), many

    response, streamed, many = asyncio.run(run())
    assert response.choices[0].message.content == MOCK_ANSWER
    assert streamed == MOCK_ANSWER
    assert [r.choices[0].message.content for r in many] == [f"This is a mock response to: n{i}" for i in range(10)]


def test_text_completion_as_in_the_docs(client):
    response = client.completions.create(model="gpt-3.5-turbo-instruct", prompt="Say this is a test", max_tokens=7)
    assert response.object == "text_completion"
    assert response.choices[0].finish_reason == "length"
    assert response.usage.completion_tokens == 7
    stream = client.completions.create(model="gpt-3.5-turbo-instruct", prompt="Say this is a test", stream=True)
    text = "".join(c.choices[0].text for c in stream)
    assert text == "This is a mock response to: Say this is a test"


def test_embeddings_as_in_the_proxy_docs(client):
    response = client.embeddings.create(input=["hello from litellm"], model="text-embedding-ada-002")
    assert response.object == "list"
    assert response.data[0].object == "embedding" and len(response.data[0].embedding) > 0
    assert response.usage.prompt_tokens > 0


def test_moderations_as_in_the_proxy_docs(client):
    response = client.moderations.create(input="hello from litellm", model="text-moderation-stable")
    result = response.results[0]
    assert result.flagged is False
    assert set(result.categories.model_dump(by_alias=True)) >= {"harassment", "hate", "self-harm", "violence"}
    assert client.moderations.create(input="I hate you", model="text-moderation-stable").results[0].flagged


def test_batch_of_two_models_answers_a_list_in_order(gateway):
    response = httpx.post(gateway.url + "/chat/completions",
                          json={"model": "gpt-3.5-turbo,mock", "messages": HELLO}, timeout=10)
    assert response.status_code == 200
    answers = response.json()
    assert isinstance(answers, list) and len(answers) == 2
    assert [a["model"] for a in answers] == ["gpt-3.5-turbo", "demo"]
    assert all(a["object"] == "chat.completion" for a in answers)


def test_unknown_model_is_an_openai_bad_request(client):
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="no-such-model", messages=HELLO)
    assert caught.value.status_code == 400
    assert "Invalid model name" in caught.value.message


def test_langchain_chat_openai_invoke_and_stream(gateway):
    from langchain_openai import ChatOpenAI

    llm = ChatOpenAI(model="mock", base_url=gateway.url, api_key="anything", max_retries=0)
    assert llm.invoke("hi there").content == "This is a mock response to: hi there"
    pieces = [chunk.content for chunk in llm.stream("stream me")]
    assert "".join(pieces) == "This is a mock response to: stream me"
    assert len([p for p in pieces if p]) > 3  # really streamed, not one block


def test_langchain_async(gateway):
    from langchain_openai import ChatOpenAI

    llm = ChatOpenAI(model="gpt-4o", base_url=gateway.url + "/v1", api_key="anything", max_retries=0)
    message = asyncio.run(llm.ainvoke("async hello"))
    assert message.content == "This is a mock response to: async hello"
    assert message.usage_metadata["total_tokens"] > 0
