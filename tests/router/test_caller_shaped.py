"""A caller must not be able to take a shared deployment offline for
everyone (issue 12 item 6): failures caused by what the caller chose (its
own api_key, its timeout, mock options) never count toward the
deployment's cooldown, allowed fails or latency."""

from __future__ import annotations

import pytest

import polyrelay
from fakeserver import Reply
from polyrelay import Router

MESSAGES = [{"role": "user", "content": "hi"}]
OK = {"id": "c1", "object": "chat.completion", "created": 1, "model": "gpt-4o",
      "choices": [{"index": 0, "message": {"role": "assistant", "content": "fine"}, "finish_reason": "stop"}],
      "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}
BAD_KEY = {"error": {"message": "Incorrect API key provided", "type": "invalid_request_error",
                     "code": "invalid_api_key"}}


def shared(fake, allowed_fails=3):
    """One deployment that everybody shares, with the admin's key."""
    return Router(model_list=[{"model_name": "shared", "litellm_params": {
        "model": "openai/gpt-4o", "api_base": fake.url, "api_key": "sk-admin-key-000000000"}}],
        num_retries=0, allowed_fails=allowed_fails, cooldown_time=60)


def test_a_bogus_client_api_key_does_not_cool_the_deployment_for_others(fake):
    router = shared(fake)
    fake.reply(Reply(401, json=BAD_KEY))
    with pytest.raises(polyrelay.AuthenticationError):
        router.completion(model="shared", messages=MESSAGES, api_key="sk-bogus-caller-key-0000")
    fake.default = Reply(json=OK)
    response = router.completion(model="shared", messages=MESSAGES)  # the next caller, with the admin's key
    assert response.choices[0].message.content == "fine"
    assert fake.requests[-1].headers["authorization"] == "Bearer sk-admin-key-000000000"


def test_tiny_client_timeouts_do_not_cool_the_deployment(fake):
    router = shared(fake)
    fake.default = Reply(json=OK, delay=0.05)
    for _ in range(5):
        with pytest.raises(polyrelay.Timeout):
            router.completion(model="shared", messages=MESSAGES, timeout=1e-9)
    assert router.completion(model="shared", messages=MESSAGES).choices[0].message.content == "fine"


def test_mock_status_from_a_caller_does_not_cool_the_deployment():
    router = Router(model_list=[{"model_name": "shared", "litellm_params": {"model": "mock/gpt-4o"}}],
                    num_retries=0, cooldown_time=60)
    with pytest.raises(polyrelay.RateLimitError):
        router.completion(model="shared", messages=MESSAGES, mock_status=429)
    assert router.completion(model="shared", messages=MESSAGES).choices[0].message.content


def test_mock_delay_does_not_skew_latency_routing():
    polyrelay.completion(model="mock/warm-up", messages=MESSAGES)  # token tables loaded: latencies are the calls'
    # "slow" really is slower (the admin configured it so); "fast" is fast.
    router = Router(model_list=[
        {"model_name": "g", "litellm_params": {"model": "mock/a", "mock_delay": 0.03}, "model_info": {"id": "slow"}},
        {"model_name": "g", "litellm_params": {"model": "mock/b"}, "model_info": {"id": "fast"}}],
        routing_strategy="latency-based-routing", seed=1)
    for _ in range(6):
        router.completion(model="g", messages=MESSAGES)  # both measured
    # One caller asks for a 0.2 s delay: its call goes to "fast", the quicker one.
    assert router.completion(model="g", messages=MESSAGES, mock_delay=0.2)._hidden_params["model_id"] == "fast"
    served = {router.completion(model="g", messages=MESSAGES)._hidden_params["model_id"] for _ in range(10)}
    assert served == {"fast"}  # the caller's choice did not make "fast" look slow


def test_the_deployments_own_failures_still_cool_it_down(fake):
    router = shared(fake)
    fake.default = Reply(500, json={"error": {"message": "boom", "type": "server_error"}})
    for _ in range(4):
        with pytest.raises(polyrelay.InternalServerError):
            router.completion(model="shared", messages=MESSAGES)
    with pytest.raises(polyrelay.RateLimitError, match="No deployments available"):
        router.completion(model="shared", messages=MESSAGES)


def test_a_caller_timeout_does_not_hide_the_deployments_own_errors(fake):
    router = shared(fake, allowed_fails=0)
    fake.reply(Reply(500, json={"error": {"message": "boom", "type": "server_error"}}))
    with pytest.raises(polyrelay.InternalServerError):
        router.completion(model="shared", messages=MESSAGES, timeout=30)
    with pytest.raises(polyrelay.RateLimitError, match="No deployments available"):
        router.completion(model="shared", messages=MESSAGES)
