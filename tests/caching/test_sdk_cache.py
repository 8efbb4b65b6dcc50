"""polyrelay.cache in the SDK, against a fake OpenAI upstream that counts calls."""

from __future__ import annotations

import asyncio
import json

import pytest

import polyrelay
from fakeserver import FakeServer, Reply, sse
from polyrelay.caching import Cache, cache_key
from polyrelay.providers.base import CHAT

KEY = "sk-test-secret-0000"
HELLO = [{"role": "user", "content": "hi"}]
ANSWER = {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
          "choices": [{"index": 0, "message": {"role": "assistant", "content": "hello there"},
                       "finish_reason": "stop"}],
          "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}}


@pytest.fixture(scope="module")
def server():
    fake = FakeServer().start()
    yield fake
    fake.stop()


@pytest.fixture
def fake(server):
    server.requests.clear()
    server.default = Reply(json=ANSWER)
    yield server
    server.default = None


@pytest.fixture(autouse=True)
def no_cache_left():
    yield
    polyrelay.cache = None


def chat(fake, **kwargs):
    kwargs.setdefault("messages", HELLO)
    return polyrelay.completion(model="openai/gpt-4o-mini", api_base=fake.url, api_key=KEY, **kwargs)


def test_a_repeated_call_is_answered_from_the_cache(fake):
    polyrelay.cache = Cache()
    first = chat(fake)
    second = chat(fake)
    assert len(fake.requests) == 1
    assert second.choices[0].message.content == "hello there" == first.choices[0].message.content
    assert first._hidden_params["cache_hit"] is False
    assert second._hidden_params["cache_hit"] is True and second._hidden_params["response_cost"] == 0.0
    assert second._hidden_params["cache_key"] == first._hidden_params["cache_key"]
    chat(fake, temperature=0.5)  # a parameter that changes the output is another entry
    assert len(fake.requests) == 2


def test_no_cache_at_all_calls_every_time(fake):
    chat(fake)
    chat(fake)
    assert len(fake.requests) == 2


def test_metadata_user_and_credentials_are_not_in_the_key(fake):
    polyrelay.cache = Cache()
    chat(fake, metadata={"a": 1}, user="alice")
    chat(fake, metadata={"b": 2}, user="bob")
    polyrelay.completion(model="openai/gpt-4o-mini", messages=HELLO, api_base=fake.url, api_key="sk-other-key")
    assert len(fake.requests) == 1
    key = cache_key(CHAT, "m", {"messages": HELLO}, {"api_key": KEY, "metadata": {"x": KEY}})
    assert KEY not in key and key == cache_key(CHAT, "m", {"messages": HELLO}, {})


def test_per_request_controls(fake):
    polyrelay.cache = Cache()
    chat(fake, cache={"no-store": True})
    chat(fake)  # nothing was stored: a miss, stored now
    assert len(fake.requests) == 2
    chat(fake, cache={"no-cache": True})  # skips the lookup
    assert len(fake.requests) == 3
    chat(fake, metadata={"cache": {"namespace": "team-a"}})  # another namespace: its own entries
    assert len(fake.requests) == 4
    chat(fake, cache={"namespace": "team-a"})
    assert len(fake.requests) == 4
    chat(fake, cache={"s-maxage": 0})  # nothing is that young
    assert len(fake.requests) == 5
    with pytest.raises(polyrelay.BadRequestError, match="no-cahce"):
        chat(fake, cache={"no-cahce": True})


def test_ttl_expires_entries(fake):
    polyrelay.cache = Cache(ttl=0.2)
    chat(fake)
    chat(fake)
    assert len(fake.requests) == 1
    asyncio.run(asyncio.sleep(0.3))
    chat(fake)
    assert len(fake.requests) == 2
    chat(fake, cache={"ttl": 60})
    asyncio.run(asyncio.sleep(0.3))
    chat(fake)
    assert len(fake.requests) == 3  # the per-request ttl kept the last one


def test_mode_default_off_caches_only_when_asked(fake):
    polyrelay.cache = Cache(mode="default_off")
    chat(fake)
    chat(fake)
    assert len(fake.requests) == 2
    chat(fake, caching=True)
    chat(fake, caching=True)
    assert len(fake.requests) == 3


def test_supported_call_types_limit_what_is_cached(fake):
    polyrelay.cache = Cache(supported_call_types=["embedding", "aembedding"])
    chat(fake)
    chat(fake)
    assert len(fake.requests) == 2
    with pytest.raises(ValueError, match="atranscription"):
        Cache(supported_call_types=["acompletion", "atranscription"])


def test_a_hit_streams_when_a_stream_is_asked_for(fake):
    polyrelay.cache = Cache()
    chat(fake)
    chunks = list(chat(fake, stream=True, stream_options={"include_usage": True}))
    assert len(fake.requests) == 1
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "hello there"
    assert chunks[-1].usage.total_tokens == 7 and chunks[-2].choices[0].finish_reason == "stop"


def test_a_streamed_answer_is_stored_when_it_ends_whole(fake):
    polyrelay.cache = Cache()
    fake.reply(Reply(stream=sse(
        {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini",
         "choices": [{"index": 0, "delta": {"role": "assistant", "content": "stre"}, "finish_reason": None}]},
        {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini",
         "choices": [{"index": 0, "delta": {"content": "amed"}, "finish_reason": "stop"}]}),
        headers={"content-type": "text/event-stream"}))
    assert "".join(c.choices[0].delta.content or "" for c in chat(fake, stream=True)) == "streamed"
    again = chat(fake)
    assert len(fake.requests) == 1 and again.choices[0].message.content == "streamed"


def test_embeddings_are_cached_per_input_item(fake):
    polyrelay.cache = Cache()

    def vectors(texts):
        return Reply(json={"object": "list", "model": "text-embedding-3-small",
                           "data": [{"object": "embedding", "index": i, "embedding": [float(len(t)), float(i)]}
                                    for i, t in enumerate(texts)],
                           "usage": {"prompt_tokens": len(texts), "total_tokens": len(texts)}})

    def embed(texts):
        return polyrelay.embedding(model="openai/text-embedding-3-small", input=texts, api_base=fake.url, api_key=KEY)

    fake.reply(vectors(["aa", "bbb"]))
    first = embed(["aa", "bbb"])
    fake.reply(vectors(["c"]))
    second = embed(["bbb", "c", "aa"])
    assert fake.requests[-1].json["input"] == ["c"]  # only the miss went to the provider
    assert [d.embedding[0] for d in second.data] == [3.0, 1.0, 2.0]
    assert [d.index for d in second.data] == [0, 1, 2]
    assert first.data[1].embedding == second.data[0].embedding
    third = embed(["c", "aa"])
    assert len(fake.requests) == 2 and third._hidden_params["cache_hit"] is True


def test_a_cache_that_is_down_is_bypassed(fake, caplog):
    polyrelay.cache = Cache(type="redis", host="127.0.0.1", port=1, backend_timeout=0.5)  # nothing listens
    assert chat(fake).choices[0].message.content == "hello there"
    assert chat(fake).choices[0].message.content == "hello there"
    assert len(fake.requests) == 2
    assert polyrelay.cache.counters["errors"] >= 2
    assert "bypass" in caplog.text


def test_a_slow_cache_is_bypassed(fake):
    cache = polyrelay.cache = Cache(backend_timeout=0.05)
    chat(fake)

    async def slow_get(key):
        await asyncio.sleep(1)

    cache.backend.get = slow_get
    chat(fake)
    assert len(fake.requests) == 2 and cache.counters["errors"] == 1


def test_a_corrupt_entry_is_a_miss(fake):
    cache = polyrelay.cache = Cache()
    key = chat(fake)._hidden_params["cache_key"]
    for broken in (b"not json", json.dumps({"created": 1}).encode(), json.dumps([1]).encode()):
        asyncio.run(cache.backend.set(key, broken, None))
        assert chat(fake)._hidden_params["cache_hit"] is False
    assert len(fake.requests) == 4


def test_disk_cache_survives_a_new_cache_object(fake, tmp_path):
    polyrelay.cache = Cache(type="disk", disk_cache_dir=str(tmp_path))
    chat(fake)
    polyrelay.cache = Cache(type="disk", disk_cache_dir=str(tmp_path))
    assert chat(fake)._hidden_params["cache_hit"] is True
    assert len(fake.requests) == 1


def test_refused_types_and_options_say_which():
    for kind in ("redis-semantic", "gcs"):
        with pytest.raises(ValueError, match=kind):
            Cache(type=kind)
    with pytest.raises(ValueError, match="s3_bucket_name"):
        Cache(type="s3")
    with pytest.raises(ValueError, match="s3_config"):
        Cache(type="s3", s3_bucket_name="b", s3_config={"retries": 3})
    with pytest.raises(ValueError, match="bogus"):
        Cache(type="bogus")
    with pytest.raises(ValueError, match="colour"):
        Cache(colour="red")


def test_enable_and_disable_cache(fake):
    polyrelay.enable_cache()
    chat(fake)
    chat(fake)
    assert len(fake.requests) == 1
    polyrelay.disable_cache()
    assert polyrelay.cache is None


def test_a_streamed_tool_call_is_stored_whole(fake):
    polyrelay.cache = Cache()

    def chunk(delta, finish=None):
        return {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini",
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    fake.reply(Reply(stream=sse(
        chunk({"role": "assistant", "tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                                                     "function": {"name": "get_weather", "arguments": ""}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city": '}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"Paris"}'}}]}, "tool_calls")),
        headers={"content-type": "text/event-stream"}))
    list(chat(fake, stream=True, tools=[{"type": "function", "function": {"name": "get_weather"}}]))
    again = chat(fake, tools=[{"type": "function", "function": {"name": "get_weather"}}])
    assert len(fake.requests) == 1 and again.choices[0].finish_reason == "tool_calls"
    (call,) = again.choices[0].message.tool_calls
    assert call.id == "call_1" and call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    replayed = list(chat(fake, stream=True, tools=[{"type": "function", "function": {"name": "get_weather"}}]))
    assert replayed[0].choices[0].delta.tool_calls[0].function.arguments == '{"city": "Paris"}'
