"""Azure AI Foundry / model inference (``azure_ai/``) against a fake endpoint on 127.0.0.1."""

from __future__ import annotations

import json

import openai
import pytest

import polyrelay
from fakeserver import Reply, sse

KEY = "azure-ai-key-0123456789abcdef"
MESSAGES = [{"role": "user", "content": "Hello"}]
ANSWER = {
    "id": "b0f3a1", "object": "chat.completion", "created": 1733200000, "model": "Llama-3.3-70B-Instruct",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi!", "tool_calls": None},
                 "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12},
}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in ("AZURE_AI_API_KEY", "AZURE_AI_API_BASE", "AZURE_AI_API_VERSION", "AZURE_AD_TOKEN"):
        monkeypatch.delenv(name, raising=False)


def test_serverless_endpoint(fake):
    fake.reply(Reply(json=ANSWER))
    response = polyrelay.completion(model="azure_ai/Llama-3.3-70B-Instruct", messages=MESSAGES, api_base=fake.url,
                                    api_key=KEY, temperature=0.1)
    sent = fake.requests[0]
    assert (sent.path, sent.query) == ("/chat/completions", {"api-version": ["2024-05-01-preview"]})
    assert sent.headers["api-key"] == KEY and "authorization" not in sent.headers
    assert sent.json == {"model": "Llama-3.3-70B-Instruct", "messages": MESSAGES, "temperature": 0.1}
    assert response.choices[0].message.content == "Hi!"
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (10, 2)
    # Llama-3.3-70B-Instruct on Foundry: $0.71 per 1M tokens in and out.
    assert response._hidden_params["response_cost"] == pytest.approx(12 * 0.71e-6)


def test_foundry_resource_gets_models_path_from_env(fake, monkeypatch):
    # A Foundry resource's host has .services.ai.azure.com: reproduce the rule on a fake host name
    # by checking the URL the adapter builds, then send to the fake server through the env base.
    from polyrelay.providers import get_adapter
    from polyrelay.providers.base import CHAT, Call, Credentials

    adapter = get_adapter("azure_ai")
    call = Call(CHAT, "azure_ai", "DeepSeek-R1", {"messages": MESSAGES},
                Credentials(api_key=KEY, api_base="https://acme.services.ai.azure.com/", api_version="2025-04-01"))
    assert adapter.build_request(call).url == (
        "https://acme.services.ai.azure.com/models/chat/completions?api-version=2025-04-01")
    monkeypatch.setenv("AZURE_AI_API_KEY", KEY)
    monkeypatch.setenv("AZURE_AI_API_BASE", fake.url + "/models/chat/completions")
    fake.reply(Reply(json=ANSWER))
    polyrelay.completion(model="azure_ai/DeepSeek-R1", messages=MESSAGES)
    assert fake.requests[0].path == "/models/chat/completions"


def test_stream_with_usage(fake):
    chunk = {"id": "s1", "object": "chat.completion.chunk", "created": 1, "model": "Phi-4"}
    fake.reply(Reply(stream=sse(
        {**chunk, "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hel"}, "finish_reason": None}]},
        {**chunk, "choices": [{"index": 0, "delta": {"content": "lo"}, "finish_reason": "stop"}]},
        {**chunk, "choices": [], "usage": {"prompt_tokens": 8, "completion_tokens": 2, "total_tokens": 10}})))
    chunks = list(polyrelay.completion(model="azure_ai/Phi-4", messages=MESSAGES, api_base=fake.url, api_key=KEY,
                                       stream=True, stream_options={"include_usage": True}))
    assert fake.requests[0].json["stream"] is True
    assert fake.requests[0].json["stream_options"] == {"include_usage": True}
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello"
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (8, 2)


def test_embeddings(fake):
    fake.reply(Reply(json={"object": "list", "model": "Cohere-embed-v3-english",
                           "data": [{"object": "embedding", "index": 0, "embedding": [0.5, 0.25]}],
                           "usage": {"prompt_tokens": 3, "total_tokens": 3}}))
    response = polyrelay.embedding(model="azure_ai/Cohere-embed-v3-english", input=["hi there"], api_base=fake.url,
                                   api_key=KEY)
    assert fake.requests[0].path == "/embeddings"
    assert response.data[0]["embedding"] == [0.5, 0.25] and response.usage.prompt_tokens == 3


def test_entra_token_instead_of_key(fake):
    fake.reply(Reply(json=ANSWER))
    polyrelay.completion(model="azure_ai/Phi-4", messages=MESSAGES, api_base=fake.url,
                         azure_ad_token="entra-token-abcdef123456")
    assert fake.requests[0].headers["authorization"] == "Bearer entra-token-abcdef123456"
    assert "api-key" not in fake.requests[0].headers


@pytest.mark.parametrize(("status", "body", "cls"), [
    (401, {"error": {"code": "401", "message": f"Access denied due to invalid key {KEY}"}}, openai.AuthenticationError),
    (429, {"error": {"code": "429", "message": "Rate limit is exceeded."}}, openai.RateLimitError),
    (400, {"error": {"code": "content_filter", "message": "The response was filtered",
                     "innererror": {"code": "ResponsibleAIPolicyViolation"}}}, polyrelay.ContentPolicyViolationError),
    (400, {"error": {"code": "Invalid input", "message": "This model's maximum context length is 16384 tokens"}},
     polyrelay.ContextWindowExceededError),
])
def test_errors(fake, status, body, cls):
    fake.reply(Reply(status, json=body))
    with pytest.raises(cls) as caught:
        polyrelay.completion(model="azure_ai/Phi-4", messages=MESSAGES, api_base=fake.url, api_key=KEY)
    assert caught.value.llm_provider == "azure_ai" and caught.value.status_code == status
    assert KEY not in str(caught.value) and KEY not in json.dumps(caught.value.body)


def test_missing_settings_are_named():
    with pytest.raises(openai.BadRequestError, match="AZURE_AI_API_BASE"):
        polyrelay.completion(model="azure_ai/Phi-4", messages=MESSAGES, api_key=KEY)
    with pytest.raises(openai.AuthenticationError, match="AZURE_AI_API_KEY"):
        polyrelay.completion(model="azure_ai/Phi-4", messages=MESSAGES, api_base="http://127.0.0.1:9")
