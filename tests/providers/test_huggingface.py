"""Hugging Face: the Inference Providers router, TGI endpoints and TEI embeddings, against a fake server.

Shapes from huggingface.co/docs/inference-providers (the router's
OpenAI-compatible /v1/chat/completions, ``model:provider``), TGI's Messages
API and error body, and TEI's ``/embed``."""

from __future__ import annotations

import pytest

import polyrelay
from fakeserver import Reply, sse
from polyrelay.params import credentials
from polyrelay.providers import ADAPTERS
from polyrelay.providers.base import CHAT, EMBEDDING, Call

TOKEN = "hf_secret_token_1234567890"
MESSAGES = [{"role": "user", "content": "hi"}]


def ok(model="m"):
    return {"id": "x", "object": "chat.completion", "created": 1, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "hello"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 8, "completion_tokens": 2, "total_tokens": 10}}


def test_router_url_and_provider_suffix(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    monkeypatch.delenv("HUGGINGFACE_API_BASE", raising=False)
    adapter = ADAPTERS["huggingface"]
    request = adapter.build_request(Call(CHAT, "huggingface", "together/deepseek-ai/DeepSeek-R1",
                                         {"messages": MESSAGES}, credentials(adapter, {})))
    assert request.url == "https://router.huggingface.co/v1/chat/completions"
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.json["model"] == "deepseek-ai/DeepSeek-R1:together"
    # No provider named: the model goes as it is (the router picks one).
    plain = adapter.build_request(Call(CHAT, "huggingface", "meta-llama/Llama-3.3-70B-Instruct",
                                       {"messages": MESSAGES}, credentials(adapter, {})))
    assert plain.json["model"] == "meta-llama/Llama-3.3-70B-Instruct"


def test_key_from_huggingface_api_key_env(fake, monkeypatch):
    monkeypatch.setenv("HUGGINGFACE_API_KEY", TOKEN)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    fake.reply(Reply(json=ok()))
    # A TGI server at api_base: its OpenAI-compatible route.
    response = polyrelay.completion(model="huggingface/tgi", messages=MESSAGES, api_base=fake.url)
    assert fake.requests[0].path == "/v1/chat/completions"
    assert fake.requests[0].headers["authorization"] == f"Bearer {TOKEN}"
    assert response.usage.total_tokens == 10


@pytest.mark.parametrize("suffix", ["", "/v1", "/v1/chat/completions"])
def test_tgi_api_base_spellings(fake, suffix):
    fake.reply(Reply(json=ok()))
    polyrelay.completion(model="huggingface/tgi", messages=MESSAGES, api_base=fake.url + suffix, api_key=TOKEN)
    assert fake.requests[0].path == "/v1/chat/completions"


def test_tgi_stream_with_usage(fake):
    chunk = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "tgi",
             "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hey"}, "finish_reason": None}]}
    end = {**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
           "usage": {"prompt_tokens": 6, "completion_tokens": 1, "total_tokens": 7}}
    fake.reply(Reply(stream=sse(chunk, end)))
    chunks = list(polyrelay.completion(model="huggingface/tgi", messages=MESSAGES, api_base=fake.url, api_key=TOKEN,
                                       stream=True, stream_options={"include_usage": True}))
    assert fake.requests[0].json["stream_options"] == {"include_usage": True}
    assert chunks[0].choices[0].delta.content == "Hey" and chunks[-1].usage.total_tokens == 7


def test_tei_embeddings(fake):
    fake.reply(Reply(json=[[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]]))
    response = polyrelay.embedding(model="huggingface/BAAI/bge-small-en-v1.5", input=["hello", "world"],
                                   api_base=fake.url, api_key=TOKEN, truncate=True)
    sent = fake.requests[0]
    assert (sent.path, sent.json) == ("/embed", {"inputs": ["hello", "world"], "truncate": True})
    assert [d["embedding"] for d in response.data] == [[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]]
    assert response.usage.prompt_tokens == 2  # TEI reports no counts: the tokenizer's
    assert response._hidden_params["usage_estimated"] is True


def test_router_embeddings_url(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    monkeypatch.delenv("HUGGINGFACE_API_BASE", raising=False)
    adapter = ADAPTERS["huggingface"]
    request = adapter.build_request(Call(EMBEDDING, "huggingface", "BAAI/bge-small-en-v1.5", {"input": "hi"},
                                         credentials(adapter, {})))
    assert request.url == ("https://router.huggingface.co/hf-inference/models/BAAI/bge-small-en-v1.5"
                           "/pipeline/feature-extraction")
    assert request.json == {"inputs": ["hi"]}
    # The router named as api_base (HUGGINGFACE_API_BASE=https://router.huggingface.co/v1) is still the router.
    routed = adapter.build_request(Call(EMBEDDING, "huggingface", "BAAI/bge-small-en-v1.5", {"input": "hi"},
                                        credentials(adapter, {"api_base": "https://router.huggingface.co/v1/"})))
    assert routed.url == request.url


def test_router_needs_a_token(monkeypatch):
    for name in ("HF_TOKEN", "HUGGINGFACE_API_KEY", "HUGGINGFACE_API_BASE", "HF_API_BASE"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(polyrelay.AuthenticationError, match="HF_TOKEN"):
        polyrelay.completion(model="huggingface/meta-llama/Llama-3.3-70B-Instruct", messages=MESSAGES)


@pytest.mark.parametrize("status,body,cls", [
    (422, {"error": "Input validation error: `inputs` tokens + `max_new_tokens` must be <= 4096. Given: 4000 "
                    "`inputs` tokens and 200 `max_new_tokens`", "error_type": "validation"},
     polyrelay.ContextWindowExceededError),
    (503, {"error": "Model meta-llama/Llama-3.3-70B-Instruct is currently loading", "estimated_time": 20.0},
     polyrelay.ServiceUnavailableError),
    (401, {"error": "Invalid credentials in Authorization header"}, polyrelay.AuthenticationError),
    (429, {"error": "Model is overloaded", "error_type": "overloaded"}, polyrelay.RateLimitError),
])
def test_errors(fake, status, body, cls):
    fake.reply(Reply(status=status, json=body))
    with pytest.raises(cls) as caught:
        polyrelay.completion(model="huggingface/tgi", messages=MESSAGES, api_base=fake.url, api_key=TOKEN,
                             num_retries=0)
    assert body["error"] in str(caught.value) and TOKEN not in str(caught.value)
