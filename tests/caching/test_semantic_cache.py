"""The semantic cache (qdrant-client's local mode) in the SDK: prompts whose
embeddings are close enough share an answer; other parameters never do.
Embeddings come from a fake OpenAI embeddings upstream with chosen vectors."""

from __future__ import annotations

import pytest

import polyrelay
from fakeserver import FakeServer, Reply
from polyrelay.caching import Cache

KEY = "sk-test-secret-0000"
ANSWER = {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
          "choices": [{"index": 0, "message": {"role": "assistant", "content": "Paris"}, "finish_reason": "stop"}],
          "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6}}


def vector(*values: float) -> Reply:
    return Reply(json={"object": "list", "model": "text-embedding-3-small",
                       "data": [{"object": "embedding", "index": 0, "embedding": list(values)}],
                       "usage": {"prompt_tokens": 3, "total_tokens": 3}})


@pytest.fixture
def servers(monkeypatch):
    chat, embed = FakeServer().start(), FakeServer().start()
    chat.default = Reply(json=ANSWER)
    monkeypatch.setenv("OPENAI_API_BASE", embed.url)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    polyrelay.cache = Cache(type="qdrant-semantic", similarity_threshold=0.9,
                            qdrant_semantic_cache_embedding_model="openai/text-embedding-3-small")
    yield chat, embed
    polyrelay.cache = None
    chat.stop()
    embed.stop()


def ask(chat, content: str, **kwargs):
    return polyrelay.completion(model="openai/gpt-4o-mini", messages=[{"role": "user", "content": content}],
                                api_base=chat.url, api_key=KEY, **kwargs)


def test_a_similar_prompt_is_a_hit_and_a_different_one_is_not(servers):
    chat, embed = servers
    embed.reply(vector(1.0, 0.0, 0.0), vector(0.99, 0.05, 0.0), vector(0.0, 1.0, 0.0))
    first = ask(chat, "What is the capital of France?")
    similar = ask(chat, "what's France's capital city")
    different = ask(chat, "How tall is Everest?")
    assert len(chat.requests) == 2  # the similar one was answered from the cache
    assert first._hidden_params["cache_hit"] is False
    assert similar._hidden_params["cache_hit"] is True and similar.choices[0].message.content == "Paris"
    assert different._hidden_params["cache_hit"] is False
    assert embed.requests[0].json["input"] == ["user: What is the capital of France?"]


def test_other_parameters_never_share_an_answer(servers):
    chat, embed = servers
    embed.default = vector(1.0, 0.0)
    ask(chat, "same words")
    ask(chat, "same words", temperature=0.1)  # same vector, other settings: a miss
    ask(chat, "same words", cache={"namespace": "elsewhere"})
    assert len(chat.requests) == 3
    assert ask(chat, "same words", temperature=0.1)._hidden_params["cache_hit"] is True


def test_a_failing_embedding_model_bypasses_the_cache(servers):
    chat, embed = servers
    embed.default = Reply(500, json={"error": {"message": "down", "type": "server_error"}})
    assert ask(chat, "anything").choices[0].message.content == "Paris"
    assert ask(chat, "anything").choices[0].message.content == "Paris"
    assert len(chat.requests) == 2 and polyrelay.cache.counters["errors"] >= 2


def test_semantic_arguments_are_checked():
    with pytest.raises(ValueError, match="similarity_threshold"):
        Cache(type="qdrant-semantic", qdrant_semantic_cache_embedding_model="m")
    with pytest.raises(ValueError, match="qdrant_semantic_cache_embedding_model"):
        Cache(type="qdrant-semantic", similarity_threshold=0.8)
    with pytest.raises(ValueError, match="similarity_threshold apply to type 'qdrant-semantic' only"):
        Cache(type="redis", similarity_threshold=0.8)
    with pytest.raises(ValueError, match="embedding"):
        Cache(type="qdrant-semantic", similarity_threshold=0.8, qdrant_semantic_cache_embedding_model="m",
              supported_call_types=["acompletion", "aembedding"])


def test_the_mock_embedding_model_hits_on_the_same_prompt(tmp_path):
    # mock/ vectors are derived from the text's hash: the same prompt is identical, any other unrelated.
    polyrelay.cache = Cache(type="qdrant-semantic", similarity_threshold=0.95, qdrant_path=str(tmp_path),
                            qdrant_semantic_cache_embedding_model="mock/embed")
    try:
        question = [{"role": "user", "content": "hello"}]
        polyrelay.completion(model="mock/gpt", messages=question)
        assert polyrelay.completion(model="mock/gpt", messages=question)._hidden_params["cache_hit"] is True
        other = polyrelay.completion(model="mock/gpt", messages=[{"role": "user", "content": "goodbye"}])
        assert other._hidden_params["cache_hit"] is False
    finally:
        polyrelay.cache = None
