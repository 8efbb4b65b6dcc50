"""The Router: strategies, retries, cooldowns, fallbacks, limits, user_config.

Deployments are mock/ models (told to fail or be slow) and fake OpenAI
servers on 127.0.0.1, so every assertion is about real calls.
"""

from __future__ import annotations

import asyncio
import collections
import time

import pytest

import polyrelay
from fakeserver import Reply, sse
from polyrelay import Router

MESSAGES = [{"role": "user", "content": "hi"}]


def mock(name, group="g", **params):
    return {"model_name": group, "litellm_params": {"model": f"mock/{name}", **params}, "model_info": {"id": name}}


def served_by(router, n, **kwargs):
    return collections.Counter(
        router.completion(model=kwargs.pop("model", "g"), messages=MESSAGES, **kwargs)._hidden_params["model_id"]
        for _ in range(n))


def test_simple_shuffle_follows_weights():
    router = Router(model_list=[mock("a", weight=1), mock("b", weight=3)], seed=1)
    counts = served_by(router, 400)
    assert 0.65 < counts["b"] / 400 < 0.85


def test_simple_shuffle_uses_rpm_when_no_weight():
    router = Router(model_list=[mock("a", rpm=100000), mock("b", rpm=300000)], seed=2)
    counts = served_by(router, 400)
    assert 0.65 < counts["b"] / 400 < 0.85


def test_retry_goes_to_another_deployment_and_cooldown_keeps_traffic_off():
    router = Router(model_list=[mock("bad", mock_status=500), mock("good")], num_retries=2, allowed_fails=1,
                    cooldown_time=60, seed=3)
    counts = served_by(router, 30)
    assert counts == {"good": 30}  # every call succeeded, retried onto the healthy one


def test_cooled_deployment_gets_traffic_again_after_cooldown():
    router = Router(model_list=[mock("flaky", mock_status=429), mock("ok")], num_retries=1, cooldown_time=0.3, seed=4)
    served_by(router, 5)
    # While cooling, the 429 deployment is not even tried: only "ok" answers, first try.
    router.deployments[0].call_params.pop("mock_status")
    assert served_by(router, 10) == {"ok": 10}
    time.sleep(0.35)
    assert served_by(router, 40)["flaky"] > 0


def test_all_deployments_cooling_is_a_clear_error_not_a_hang():
    router = Router(model_list=[mock("a", mock_status=429)], num_retries=0, cooldown_time=30)
    with pytest.raises(polyrelay.RateLimitError):
        router.completion(model="g", messages=MESSAGES)
    started = time.perf_counter()
    with pytest.raises(polyrelay.RateLimitError, match="No deployments available.*cooling"):
        router.completion(model="g", messages=MESSAGES)
    assert time.perf_counter() - started < 1


def test_auth_errors_are_not_retried(fake):
    fake.default = Reply(401, json={"error": {"message": "bad key", "type": "invalid_request_error"}})
    router = Router(model_list=[{"model_name": "g", "litellm_params": {"model": "openai/gpt-4o", "api_base": fake.url,
                                                                     "api_key": "sk-wrong-123456789"}}],
                    num_retries=3)
    with pytest.raises(polyrelay.AuthenticationError):
        router.completion(model="g", messages=MESSAGES)
    assert len(fake.requests) == 1


def test_retry_after_is_honoured(fake):
    limited = {"error": {"message": "slow down", "type": "rate_limit_error"}}
    ok = {"id": "x", "object": "chat.completion", "created": 1, "model": "m", "usage": None,
          "choices": [{"index": 0, "message": {"role": "assistant", "content": "done"}, "finish_reason": "stop"}]}
    fake.reply(Reply(429, json=limited, headers={"retry-after": "0.4"}), Reply(json=ok))
    router = Router(model_list=[{"model_name": "g", "litellm_params": {"model": "openai/gpt-4o", "api_base": fake.url,
                                                                     "api_key": "sk-test-123456789"}}],
                    num_retries=1, disable_cooldowns=True)
    started = time.perf_counter()
    assert router.completion(model="g", messages=MESSAGES).choices[0].message.content == "done"
    assert time.perf_counter() - started >= 0.4


def test_fallbacks_to_another_group():
    router = Router(model_list=[mock("a", group="primary", mock_status=503), mock("b", group="backup")],
                    num_retries=0, fallbacks=[{"primary": ["backup"]}])
    response = router.completion(model="primary", messages=MESSAGES)
    assert response._hidden_params["model_id"] == "b" and response._hidden_params["fallback_from"] == "primary"


def test_per_request_and_default_fallbacks():
    router = Router(model_list=[mock("a", group="primary", mock_status=503), mock("b", group="backup"),
                                mock("c", group="last-resort")], num_retries=0, default_fallbacks=["last-resort"])
    assert router.completion(model="primary", messages=MESSAGES)._hidden_params["model_id"] == "c"
    assert router.completion(model="primary", messages=MESSAGES,
                             fallbacks=["backup"])._hidden_params["model_id"] == "b"


def test_context_window_and_content_policy_fallbacks(fake):
    fake.reply(Reply(400, json={"error": {"message": "maximum context length is 8192 tokens",
                                          "code": "context_length_exceeded"}}),
               Reply(400, json={"error": {"message": "flagged", "code": "content_policy_violation"}}),
               Reply(400, json={"error": {"message": "maximum context length is 8192 tokens",
                                          "code": "context_length_exceeded"}}))
    small = {"model_name": "small", "litellm_params": {"model": "openai/gpt-4o", "api_base": fake.url,
                                                       "api_key": "sk-test-123456789"}}
    router = Router(model_list=[small, mock("big", group="big"), mock("safe", group="safe"), mock("generic", group="x")],
                    context_window_fallbacks=[{"small": ["big"]}], content_policy_fallbacks=[{"small": ["safe"]}],
                    fallbacks=[{"small": ["x"]}], num_retries=3)
    assert router.completion(model="small", messages=MESSAGES)._hidden_params["model_id"] == "big"
    assert router.completion(model="small", messages=MESSAGES)._hidden_params["model_id"] == "safe"
    plain = Router(model_list=[small, mock("generic", group="x")], fallbacks=[{"small": ["x"]}])
    with pytest.raises(polyrelay.ContextWindowExceededError):  # a generic fallback does not take context errors
        plain.completion(model="small", messages=MESSAGES)
    assert len(fake.requests) == 3  # bad requests were never retried


def test_stream_failing_before_first_chunk_falls_back(fake):
    error_first = sse({"error": {"message": "overloaded", "type": "server_error", "code": 503}}, done=False)
    fake.reply(Reply(stream=error_first))
    router = Router(model_list=[{"model_name": "p", "litellm_params": {"model": "openai/gpt-4o", "api_base": fake.url,
                                                                     "api_key": "sk-test-123456789"}},
                                mock("b", group="backup"), mock("c", group="s", mock_status=503)],
                    num_retries=0, fallbacks=[{"p": ["backup"]}, {"s": ["backup"]}])
    chunks = list(router.completion(model="p", messages=MESSAGES, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "This is a mock response to: hi"
    assert chunks[0]._hidden_params["model_id"] == "b"
    chunks = list(router.completion(model="s", messages=MESSAGES, stream=True))
    assert chunks[-1]._hidden_params["model_id"] == "b"


def test_rpm_limit_moves_traffic_then_refuses():
    router = Router(model_list=[mock("a", rpm=3), mock("b", rpm=2)], routing_strategy="usage-based-routing")
    assert served_by(router, 5) == {"a": 3, "b": 2}
    with pytest.raises(polyrelay.RateLimitError, match="rpm/tpm limit"):
        router.completion(model="g", messages=MESSAGES)


def test_tpm_limit_is_respected():
    router = Router(model_list=[mock("a", tpm=30), mock("b")], routing_strategy="simple-shuffle", seed=5)
    counts = served_by(router, 20)
    # Each mock answer is ~20 tokens: "a" can take at most two before its minute is full.
    assert counts["a"] <= 2 and counts["b"] >= 18


def test_least_busy_spreads_concurrent_requests():
    router = Router(model_list=[mock("a", mock_delay=0.2), mock("b", mock_delay=0.2), mock("c", mock_delay=0.2)],
                    routing_strategy="least-busy")

    async def burst():
        return await asyncio.gather(*(router.acompletion(model="g", messages=MESSAGES) for _ in range(6)))

    counts = collections.Counter(r._hidden_params["model_id"] for r in asyncio.run(burst()))
    assert counts == {"a": 2, "b": 2, "c": 2}


def test_latency_based_prefers_the_fast_deployment():
    router = Router(model_list=[mock("slow", mock_delay=0.08), mock("fast")], routing_strategy="latency-based-routing",
                    routing_strategy_args={"lowest_latency_buffer": 0.1})
    counts = served_by(router, 20)
    assert counts["fast"] >= 18  # the slow one is tried once, to measure it


def test_unknown_group_and_wildcard():
    router = Router(model_list=[{"model_name": "mock/*", "litellm_params": {"model": "mock/*"}}])
    response = router.completion(model="mock/anything", messages=MESSAGES)
    assert response.model == "anything"
    with pytest.raises(polyrelay.BadRequestError, match="Invalid model name"):
        router.completion(model="nope", messages=MESSAGES)


def test_user_config_example_from_the_docs(fake, monkeypatch):
    """proxy-user-keys.txt: a whole router config in the request, with fallbacks."""
    ok = {"id": "x", "object": "chat.completion", "created": 1, "model": "gpt-3.5-turbo",
          "choices": [{"index": 0, "message": {"role": "assistant", "content": "a poem"}, "finish_reason": "stop"}],
          "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}}
    fake.reply(Reply(500, json={"error": {"message": "azure is down"}}), Reply(json=ok))
    monkeypatch.setenv("AZURE_API_KEY", "azure-key-123456789")
    monkeypatch.setenv("AZURE_API_VERSION", "2024-10-21")
    monkeypatch.setenv("AZURE_API_BASE", fake.url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-user-key-123456789")
    import os

    user_config = {
        "model_list": [
            {"model_name": "user-azure-instance",
             "litellm_params": {"model": "azure/chatgpt-v-2", "api_key": os.getenv("AZURE_API_KEY"),
                                "api_version": os.getenv("AZURE_API_VERSION"), "api_base": os.getenv("AZURE_API_BASE"),
                                "timeout": 10},
             "tpm": 240000, "rpm": 1800},
            {"model_name": "user-openai-instance",
             "litellm_params": {"model": "gpt-3.5-turbo", "api_key": os.getenv("OPENAI_API_KEY"), "timeout": 10,
                                "api_base": fake.url},
             "tpm": 240000, "rpm": 1800},
        ],
        "num_retries": 0,
        "allowed_fails": 3,
        "fallbacks": [{"user-azure-instance": ["user-openai-instance"]}],
    }
    router = Router(model_list=[mock("unrelated")])
    response = router.completion(model="user-azure-instance", messages=MESSAGES, user_config=user_config)
    assert response.choices[0].message.content == "a poem"
    assert fake.requests[0].path == "/openai/deployments/chatgpt-v-2/chat/completions"
    assert fake.requests[1].path == "/chat/completions"
    assert fake.requests[1].headers["authorization"] == "Bearer sk-user-key-123456789"
    assert router.model_names == ["g"]  # the caller's config did not leak into the router


def test_litellm_router_example_runs_unchanged(monkeypatch, fake):
    """LiteLLM's documented Router quick start, with import polyrelay as litellm."""
    ok = {"id": "x", "object": "chat.completion", "created": 1, "model": "gpt-3.5-turbo",
          "choices": [{"index": 0, "message": {"role": "assistant", "content": "fine"}, "finish_reason": "stop"}],
          "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6}}
    fake.default = Reply(json=ok)
    monkeypatch.setenv("AZURE_API_KEY", "azure-key-123456789")
    monkeypatch.setenv("AZURE_API_BASE", fake.url)
    monkeypatch.setenv("AZURE_API_VERSION", "2024-10-21")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-123456789")
    monkeypatch.setenv("OPENAI_API_BASE", fake.url + "/v1")
    import os

    import polyrelay as litellm

    model_list = [{
        "model_name": "gpt-3.5-turbo",
        "litellm_params": {"model": "azure/chatgpt-v-2", "api_key": os.getenv("AZURE_API_KEY"),
                           "api_version": os.getenv("AZURE_API_VERSION"), "api_base": os.getenv("AZURE_API_BASE")},
    }, {
        "model_name": "gpt-3.5-turbo",
        "litellm_params": {"model": "gpt-3.5-turbo", "api_key": os.getenv("OPENAI_API_KEY")},
    }]
    router = litellm.Router(model_list=model_list)
    response = router.completion(model="gpt-3.5-turbo", messages=[{"role": "user", "content": "Hey, how's it going?"}])
    assert response.choices[0].message.content == "fine"

    async def run():
        return await router.acompletion(model="gpt-3.5-turbo", messages=[{"role": "user", "content": "Hey"}])

    assert asyncio.run(run()).usage.total_tokens == 6
    paths = {r.path for r in fake.requests}
    assert paths <= {"/openai/deployments/chatgpt-v-2/chat/completions", "/v1/chat/completions"}


def test_text_completion_and_embedding_through_router():
    router = Router(model_list=[mock("t", group="text"), mock("e", group="emb")])
    assert router.text_completion(model="text", prompt="Say hi").choices[0].text.endswith("Say hi")
    assert len(router.embedding(model="emb", input=["x", "y"]).data) == 2
