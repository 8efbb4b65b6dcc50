"""The OpenAI-compatible family: rows of one table, checked through the wire."""

from __future__ import annotations

import pytest

import polyrelay
from fakeserver import Reply, sse
from polyrelay.providers.openai_compatible import ROWS

MESSAGES = [{"role": "user", "content": "hi"}]


def ok(model="m", usage=None):
    return {"id": "x", "object": "chat.completion", "created": 1, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "yo"}, "finish_reason": "stop"}],
            "usage": usage or {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}}


@pytest.mark.parametrize("row", [r for r in ROWS if r.name != "text-completion-openai"], ids=lambda r: r.name)
def test_each_row_reads_its_key_variable_and_speaks_openai(fake, monkeypatch, row):
    if row.key_env:
        monkeypatch.setenv(row.key_env[0], f"key-for-{row.name}-12345678")
    fake.reply(Reply(json=ok()))
    response = polyrelay.completion(model=f"{row.name}/some-model", messages=MESSAGES, api_base=fake.url + "/v1")
    sent = fake.requests[0]
    assert sent.path == "/v1/chat/completions"
    assert sent.json["model"] == "some-model"
    if row.key_env:
        assert sent.headers["authorization"] == f"Bearer key-for-{row.name}-12345678"
    assert response._hidden_params["custom_llm_provider"] == row.name
    assert response.choices[0].message.content == "yo"


def test_api_base_env_override(fake, monkeypatch):
    monkeypatch.setenv("GROQ_API_KEY", "gsk_test_key_123456")
    monkeypatch.setenv("GROQ_API_BASE", fake.url + "/openai/v1")
    fake.reply(Reply(json=ok("llama3-8b-8192")))
    polyrelay.completion(model="groq/llama3-8b-8192", messages=MESSAGES)
    assert fake.requests[0].path == "/openai/v1/chat/completions"


def test_unsupported_param_is_named_unless_dropped(fake, monkeypatch):
    monkeypatch.setenv("GROQ_API_KEY", "gsk_test_key_123456")
    with pytest.raises(polyrelay.UnsupportedParamsError, match="logit_bias") as caught:
        polyrelay.completion(model="groq/llama3-8b-8192", messages=MESSAGES, logit_bias={"1": 2}, api_base=fake.url)
    assert caught.value.param == "logit_bias" and caught.value.status_code == 400
    assert fake.requests == []  # refused before any call

    fake.reply(Reply(json=ok()), Reply(json=ok()))
    polyrelay.completion(model="groq/llama3-8b-8192", messages=MESSAGES, logit_bias={"1": 2}, drop_params=True,
                         api_base=fake.url)
    assert "logit_bias" not in fake.requests[0].json
    monkeypatch.setattr(polyrelay, "drop_params", True)
    polyrelay.completion(model="groq/llama3-8b-8192", messages=MESSAGES, logit_bias={"1": 2}, api_base=fake.url)
    assert "logit_bias" not in fake.requests[1].json


def test_provider_specific_params_pass_through(fake, monkeypatch):
    monkeypatch.setenv("OPENROUTER_API_KEY", "or-key-12345678")
    fake.reply(Reply(json=ok()))
    polyrelay.completion(model="openrouter/meta/llama", messages=MESSAGES, transforms=["middle-out"], api_base=fake.url)
    assert fake.requests[0].json["transforms"] == ["middle-out"]
    assert fake.requests[0].json["model"] == "meta/llama"


def test_mistral_renames_seed(fake, monkeypatch):
    monkeypatch.setenv("MISTRAL_API_KEY", "mistral-key-123456")
    fake.reply(Reply(json=ok()))
    polyrelay.completion(model="mistral/mistral-small-latest", messages=MESSAGES, seed=3, api_base=fake.url)
    assert fake.requests[0].json["random_seed"] == 3 and "seed" not in fake.requests[0].json


def test_deepseek_cache_hits_map_to_cached_tokens(fake, monkeypatch):
    monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-deepseek-1234567")
    # Usage as DeepSeek's context-caching guide shows it: hit + miss = prompt_tokens.
    usage = {"prompt_tokens": 80, "completion_tokens": 9, "total_tokens": 89,
             "prompt_cache_hit_tokens": 64, "prompt_cache_miss_tokens": 16}
    fake.reply(Reply(json=ok("deepseek-chat", usage)))
    response = polyrelay.completion(model="deepseek/deepseek-chat", messages=MESSAGES, api_base=fake.url)
    assert response.usage.prompt_tokens_details.cached_tokens == 64
    assert response.usage.prompt_cache_hit_tokens == 64
    assert response.usage["prompt_cache_miss_tokens"] == 16
    assert response.usage.total_tokens == 89


def test_stream_without_usage_support_is_estimated(fake, monkeypatch):
    monkeypatch.setenv("PERPLEXITYAI_API_KEY", "pplx-key-12345678")
    chunk = {"id": "p", "object": "chat.completion.chunk", "created": 1, "model": "sonar",
             "choices": [{"index": 0, "delta": {"content": "Hello there"}, "finish_reason": None}]}
    end = {**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    fake.reply(Reply(stream=sse(chunk, end)))
    stream = polyrelay.completion(model="perplexity/sonar", messages=MESSAGES, stream=True,
                                  stream_options={"include_usage": True}, api_base=fake.url)
    chunks = list(stream)
    assert "stream_options" not in fake.requests[0].json
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 2  # "Hello there"
    assert stream._hidden_params["usage_estimated"] is True


def test_self_hosted_needs_api_base_not_key(fake, monkeypatch):
    monkeypatch.delenv("HOSTED_VLLM_API_BASE", raising=False)
    with pytest.raises(polyrelay.BadRequestError, match="api_base"):
        polyrelay.completion(model="hosted_vllm/llama", messages=MESSAGES)
    fake.reply(Reply(json=ok()))
    polyrelay.completion(model="hosted_vllm/llama", messages=MESSAGES, api_base=fake.url)
    assert "authorization" not in fake.requests[0].headers


def test_unknown_provider_or_model_is_a_clear_error():
    with pytest.raises(polyrelay.BadRequestError, match="LLM Provider NOT provided"):
        polyrelay.completion(model="no-such-model", messages=MESSAGES)
