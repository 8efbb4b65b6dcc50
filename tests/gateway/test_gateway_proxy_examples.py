"""The gateway examples of LiteLLM's proxy docs (seeds/proxy-user-keys.txt),
run with the `openai` SDK against a real gateway: metadata, a batch of two
models, user_config with fallbacks, client-supplied keys, and client-side
api_base refused unless the admin allowed it. Plus Azure clients on the
deployment route."""

from __future__ import annotations

from pathlib import Path

import openai
import pytest

from conftest import reset
from fakeserver import FakeServer, Reply
from gateway_process import GatewayProcess

CONFIG = (Path(__file__).parent / "configs" / "proxy_examples.yaml").read_text()
UPSTREAM_KEY = "sk-proxyupstream-0123456789abcdef"
POEM = [{"role": "user", "content": "this is a test request, write a short poem"}]


def completion_body(content: str = "Roses are red") -> dict:
    return {"id": "chatcmpl-8c5qbGTILZa1S4CK3b31yj5N40hFN", "object": "chat.completion", "created": 1704089632,
            "model": "gpt-35-turbo", "system_fingerprint": None,
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}],
            "usage": {"completion_tokens": 47, "prompt_tokens": 12, "total_tokens": 59}}


@pytest.fixture(scope="module")
def second_upstream():
    """Stands for an address a client supplies (its own api_base)."""
    server = FakeServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def azure_upstream():
    server = FakeServer().start()
    yield server
    server.stop()


def start(upstream, extra_config: str = "") -> GatewayProcess:
    return GatewayProcess(CONFIG + extra_config, env={
        "FAKE_UPSTREAM_BASE": upstream.url, "FAKE_UPSTREAM_KEY": UPSTREAM_KEY,
        # user_config deployments without an api_base use the usual variable.
        "OPENAI_API_BASE": upstream.url,
    }).start()


@pytest.fixture(scope="module")
def strict(upstream):
    """The default: client-side api_base only where a deployment allows it."""
    process = start(upstream)
    yield process
    process.stop()


@pytest.fixture(scope="module")
def permissive(upstream):
    process = start(upstream, "  allow_client_side_credentials: true\n")
    yield process
    process.stop()


@pytest.fixture
def fakes(upstream, second_upstream, azure_upstream):
    return reset(upstream), reset(second_upstream), reset(azure_upstream)


def sdk(gateway) -> openai.OpenAI:
    return openai.OpenAI(api_key="sk-1234", base_url=gateway.url, max_retries=0)


def test_metadata_example(strict, fakes):
    upstream, _, _ = fakes
    upstream.reply(Reply(json=completion_body()))
    response = sdk(strict).chat.completions.create(
        model="gpt-3.5-turbo", messages=POEM,
        extra_body={"metadata": {"generation_name": "ishaan-generation-openai-client",
                                 "generation_id": "openai-client-gen-id22", "trace_id": "openai-client-trace-id22",
                                 "trace_user_id": "openai-client-user-id2"}})
    assert response.choices[0].message.content == "Roses are red"
    assert response.usage.total_tokens == 59
    assert response.model_extra["_response_ms"] > 0
    sent = upstream.requests[0].json
    assert sent["model"] == "gpt-3.5-turbo" and sent["messages"] == POEM
    assert "metadata" not in sent  # kept by the gateway, not sent to the provider


def test_batch_of_two_models(strict, fakes):
    upstream, _, _ = fakes
    upstream.reply(Reply(json=completion_body("In the depths of my soul")))
    response = sdk(strict).chat.completions.create(model="gpt-3.5-turbo,llama3", messages=POEM)
    assert isinstance(response, list) and len(response) == 2
    assert response[0].choices[0].message.content == "In the depths of my soul"
    assert response[1].model == "llama3-8b-8192"
    assert response[1].choices[0].message.content.startswith("This is a mock response")


def test_batch_keeps_order_and_reports_a_failed_group_in_place(strict, fakes):
    upstream, _, _ = fakes
    upstream.reply(Reply(503, json={"error": {"message": "upstream down", "type": "server_error"}}))
    raw = sdk(strict).chat.completions.with_raw_response.create(model="llama3,gpt-3.5-turbo", messages=POEM,
                                                                 extra_body={"num_retries": 0})
    items = raw.http_response.json()
    assert items[0]["object"] == "chat.completion"
    assert "upstream down" in items[1]["error"]["message"]


def test_client_supplied_api_key(strict, fakes):
    upstream, _, _ = fakes
    upstream.reply(Reply(json=completion_body()))
    sdk(strict).chat.completions.create(model="gpt-3.5-turbo", messages=POEM, extra_body={"api_key": "my-bad-key"})
    assert upstream.requests[0].headers["authorization"] == "Bearer my-bad-key"


def test_client_side_api_base_refused_by_default(strict, fakes):
    upstream, second, _ = fakes
    with pytest.raises(openai.PermissionDeniedError) as caught:
        sdk(strict).chat.completions.create(
            model="gpt-3.5-turbo", messages=POEM,
            extra_body={"api_key": "my-azure-key", "api_base": second.url, "api_version": "my-azure-version"})
    message = caught.value.message
    assert "allow_client_side_credentials" in message and "configurable_clientside_auth_params" in message
    assert upstream.requests == [] and second.requests == []  # no provider was called


def test_client_side_api_base_where_the_deployment_allows_it(strict, fakes):
    upstream, second, _ = fakes
    second.reply(Reply(json=completion_body("from the client's own base")))
    response = sdk(strict).chat.completions.create(
        model="byo-base", messages=POEM, extra_body={"api_key": "my-own-key", "api_base": second.url})
    assert response.choices[0].message.content == "from the client's own base"
    assert second.requests[0].headers["authorization"] == "Bearer my-own-key"
    assert upstream.requests == []


def test_client_side_api_base_must_match_the_allowed_pattern(strict, fakes):
    _, second, _ = fakes
    with pytest.raises(openai.PermissionDeniedError):
        sdk(strict).chat.completions.create(model="pattern-base", messages=POEM,
                                            extra_body={"api_base": second.url})
    assert second.requests == []


def seed_user_config(azure_base: str) -> dict:
    return {
        "model_list": [
            {"model_name": "user-azure-instance",
             "litellm_params": {"model": "azure/chatgpt-v-2", "api_key": "user-azure-key-1234",
                                "api_version": "2024-02-01", "api_base": azure_base, "timeout": 10},
             "tpm": 240000, "rpm": 1800},
            {"model_name": "user-openai-instance",
             "litellm_params": {"model": "gpt-3.5-turbo", "api_key": "user-openai-key-5678", "timeout": 10},
             "tpm": 240000, "rpm": 1800},
        ],
        "num_retries": 2,
        "allowed_fails": 3,
        "fallbacks": [{"user-azure-instance": ["user-openai-instance"]}],
    }


def test_user_config_with_api_base_refused_by_default(strict, fakes):
    _, _, azure = fakes
    with pytest.raises(openai.PermissionDeniedError) as caught:
        sdk(strict).chat.completions.create(model="user-azure-instance", messages=POEM,
                                            extra_body={"user_config": seed_user_config(azure.url)})
    assert "allow_client_side_credentials" in caught.value.message
    assert azure.requests == []


def test_user_config_with_fallbacks(permissive, fakes):
    upstream, _, azure = fakes
    azure.default = Reply(429, json={"error": {"code": "429", "message": "Requests exceeded the rate limit"}},
                          headers={"retry-after": "0"})
    upstream.reply(Reply(json=completion_body("fallback answer")))
    response = sdk(permissive).chat.completions.create(model="user-azure-instance", messages=POEM,
                                                       extra_body={"user_config": seed_user_config(azure.url)})
    assert response.choices[0].message.content == "fallback answer"
    first = azure.requests[0]
    assert first.path == "/openai/deployments/chatgpt-v-2/chat/completions"
    assert first.headers["api-key"] == "user-azure-key-1234"
    assert upstream.requests[0].headers["authorization"] == "Bearer user-openai-key-5678"


def test_user_config_may_not_read_the_gateway_environment(permissive, fakes):
    config = seed_user_config("http://127.0.0.1:9")
    config["model_list"][1]["litellm_params"]["api_key"] = "os.environ/FAKE_UPSTREAM_KEY"
    with pytest.raises(openai.BadRequestError, match="os.environ"):
        sdk(permissive).chat.completions.create(model="user-openai-instance", messages=POEM,
                                                extra_body={"user_config": config})
    with pytest.raises(openai.BadRequestError, match="redis_host"):
        sdk(permissive).chat.completions.create(model="llama3", messages=POEM,
                                                extra_body={"user_config": {"redis_host": "127.0.0.1"}})


def test_permissive_gateway_takes_any_client_api_base(permissive, fakes):
    upstream, second, _ = fakes
    second.reply(Reply(json=completion_body("via client base")))
    response = sdk(permissive).chat.completions.create(
        model="gpt-3.5-turbo", messages=POEM, extra_body={"api_key": "my-azure-key", "api_base": second.url})
    assert response.choices[0].message.content == "via client base"
    assert upstream.requests == []


def test_mock_response_and_fallbacks_extras(strict, fakes):
    upstream, _, _ = fakes
    answer = sdk(strict).chat.completions.create(model="gpt-3.5-turbo", messages=POEM,
                                                 extra_body={"mock_response": "canned"})
    assert answer.choices[0].message.content == "canned"
    assert upstream.requests == []  # mock_response makes no provider call
    upstream.reply(Reply(503, json={"error": {"message": "down", "type": "server_error"}}))
    response = sdk(strict).chat.completions.create(
        model="gpt-3.5-turbo", messages=POEM, extra_body={"fallbacks": ["llama3"], "num_retries": 0})
    assert response.choices[0].message.content.startswith("This is a mock response")
    assert len(upstream.requests) == 1


def test_azure_client_on_the_deployment_route(strict):
    client = openai.AzureOpenAI(azure_endpoint=strict.url, api_key="sk-1234", api_version="2024-02-01",
                                max_retries=0)
    response = client.chat.completions.create(model="azure-gpt", messages=POEM)
    assert response.choices[0].message.content.startswith("This is a mock response")
    stream = client.chat.completions.create(model="azure-gpt", messages=POEM, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices).startswith("This is a mock")
    vectors = client.embeddings.create(model="azure-gpt", input=["hello"], encoding_format="float")
    assert len(vectors.data[0].embedding) > 0
    text = client.completions.create(model="azure-gpt", prompt="Say this is a test", max_tokens=3)
    assert text.choices[0].finish_reason == "length"
    bad = openai.AzureOpenAI(azure_endpoint=strict.url, api_key="wrong", api_version="2024-02-01", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.chat.completions.create(model="azure-gpt", messages=POEM)
