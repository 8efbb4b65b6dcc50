"""The Router surface LiteLLM users call (issue 13 item 7): inspection and
management methods, calling a deployment by id, ``order``, aliases,
pre-call checks, retry and allowed-fails policies, ``max_fallbacks``."""

from __future__ import annotations

import collections

import pytest

import polyrelay
from polyrelay import AllowedFailsPolicy, RetryPolicy, Router
from polyrelay.router import AllowedFailsPolicy as RouterAllowedFailsPolicy
from polyrelay.router import RetryPolicy as RouterRetryPolicy

MESSAGES = [{"role": "user", "content": "hi"}]


def mock(ident, group="g", info=None, **params):
    return {"model_name": group, "litellm_params": {"model": f"mock/{ident}", **params},
            "model_info": {"id": ident, **(info or {})}}


def served_by(router, n, model="g", **kwargs):
    return collections.Counter(router.completion(model=model, messages=MESSAGES, **kwargs)._hidden_params["model_id"]
                               for _ in range(n))


def test_policies_are_the_same_objects_from_both_imports():
    assert RetryPolicy is RouterRetryPolicy and AllowedFailsPolicy is RouterAllowedFailsPolicy


def test_names_ids_and_deployment_lookup():
    router = Router(model_list=[mock("a"), mock("b"), mock("c", group="other")],
                    model_group_alias={"gpt-4": "g", "secret": {"model": "other", "hidden": True}})
    assert router.get_model_names() == ["g", "other", "gpt-4"]  # hidden aliases are callable but not listed
    assert router.get_model_ids() == ["a", "b", "c"]
    assert router.get_model_ids("g") == ["a", "b"]
    deployment = router.get_deployment(model_id="b")
    assert deployment.model_name == "g" and deployment.litellm_params.model == "mock/b"
    assert deployment["model_info"]["id"] == "b"
    assert router.get_deployment(model_id="nope") is None


def test_add_and_delete_deployment_change_routing():
    router = Router(model_list=[mock("a")])
    added = router.add_deployment({"model_name": "g", "litellm_params": {"model": "mock/b"}, "model_info": {"id": "b"}})
    assert added.model_info.id == "b"
    assert router.add_deployment(mock("b")) is None  # the id is taken
    assert set(served_by(router, 40)) == {"a", "b"}
    assert router.delete_deployment(id="a").model_info.id == "a"
    assert router.delete_deployment(id="a") is None
    assert served_by(router, 10) == {"b": 10}
    assert router.get_model_ids() == ["b"]


def test_call_a_deployment_by_its_model_info_id():
    router = Router(model_list=[mock("a"), mock("b")])
    assert served_by(router, 10, model="b") == {"b": 10}


def test_order_uses_the_lowest_first_and_the_next_only_when_it_fails():
    router = Router(model_list=[mock("primary", order=1), mock("backup", order=2), mock("last")], num_retries=1,
                    allowed_fails=100)
    assert served_by(router, 20) == {"primary": 20}
    router.deployments[0].call_params["mock_status"] = 500  # the primary starts failing (admin-side)
    assert served_by(router, 5) == {"backup": 5}  # each call retried past it, onto order 2


def test_order_falls_to_the_next_when_the_lowest_is_cooling():
    router = Router(model_list=[mock("primary", order=1, mock_status=429), mock("backup", order=2)], num_retries=0,
                    cooldown_time=60)
    with pytest.raises(polyrelay.RateLimitError):
        router.completion(model="g", messages=MESSAGES)  # primary answers 429: cooled down
    assert served_by(router, 5) == {"backup": 5}


def test_model_group_alias_string_and_hidden_form():
    router = Router(model_list=[mock("a", group="gpt-4o")],
                    model_group_alias={"gpt-4": "gpt-4o", "legacy": {"model": "gpt-4o", "hidden": True}})
    assert router.completion(model="gpt-4", messages=MESSAGES)._hidden_params["model_id"] == "a"
    assert router.completion(model="legacy", messages=MESSAGES)._hidden_params["model_id"] == "a"
    assert "legacy" not in router.get_model_names()
    with pytest.raises(polyrelay.BadRequestError, match="Invalid model name"):
        router.completion(model="gpt-5", messages=MESSAGES)


def test_pre_call_checks_skip_deployments_whose_context_window_is_too_small():
    small = mock("small", info={"max_input_tokens": 50})
    large = mock("large", info={"max_input_tokens": 100_000})
    router = Router(model_list=[small, large], enable_pre_call_checks=True)
    long_messages = [{"role": "user", "content": "word " * 400}]
    served = {router.completion(model="g", messages=long_messages)._hidden_params["model_id"] for _ in range(20)}
    assert served == {"large"}
    assert set(served_by(router, 40)) == {"small", "large"}  # short prompts still use both


def test_pre_call_checks_with_nothing_large_enough_use_context_window_fallbacks():
    router = Router(model_list=[mock("small", info={"max_input_tokens": 50}),
                                mock("big", group="big", info={"max_input_tokens": 100_000})],
                    enable_pre_call_checks=True, context_window_fallbacks=[{"g": ["big"]}])
    long_messages = [{"role": "user", "content": "word " * 400}]
    assert router.completion(model="g", messages=long_messages)._hidden_params["model_id"] == "big"
    alone = Router(model_list=[mock("small", info={"max_input_tokens": 50})], enable_pre_call_checks=True)
    with pytest.raises(polyrelay.ContextWindowExceededError):
        alone.completion(model="g", messages=long_messages)


def test_retry_policy_sets_retries_per_error_class(fake):
    from fakeserver import Reply

    refusal = Reply(400, json={"error": {"message": "flagged", "type": "invalid_request_error",
                                         "code": "content_policy_violation"}})
    fake.default = refusal
    deployment = {"model_name": "g", "litellm_params": {"model": "openai/gpt-4o", "api_base": fake.url,
                                                        "api_key": "sk-test-0000000000000000"}}
    policy = RetryPolicy(ContentPolicyViolationErrorRetries=3, AuthenticationErrorRetries=0)
    router = Router(model_list=[deployment], retry_policy=policy, num_retries=0)
    with pytest.raises(polyrelay.ContentPolicyViolationError):
        router.completion(model="g", messages=MESSAGES)
    assert len(fake.requests) == 4  # one call, three retries, though num_retries is 0


def test_retry_policy_from_a_config_dict_and_zero_retries_for_rate_limits():
    router = Router(model_list=[mock("a", mock_status=429)], num_retries=3, cooldown_time=0,
                    retry_policy={"RateLimitErrorRetries": 0})
    with pytest.raises(polyrelay.RateLimitError) as caught:
        router.completion(model="g", messages=MESSAGES)
    assert caught.value.num_retries == 0
    with pytest.raises(polyrelay.BadRequestError, match="RateLimitRetries"):
        Router(model_list=[mock("a")], retry_policy={"RateLimitRetries": 1})  # a typo is named, not ignored


def test_allowed_fails_policy_cools_after_that_many_failures_of_the_class():
    router = Router(model_list=[mock("a", mock_status=500), mock("b")], num_retries=0, cooldown_time=60, seed=5,
                    allowed_fails_policy=AllowedFailsPolicy(InternalServerErrorAllowedFails=5))
    failures = 0
    for _ in range(40):
        try:
            router.completion(model="g", messages=MESSAGES)
        except polyrelay.InternalServerError:
            failures += 1
    assert failures == 6  # five allowed, the sixth cools "a" down; allowed_fails (3) alone would stop at 4


def test_max_fallbacks_limits_the_chain():
    groups = [mock(f"d{i}", group=f"g{i}", mock_status=500) for i in range(4)] + [mock("ok", group="good")]
    fallbacks = [{"g0": ["g1", "g2", "g3", "good"]}]
    router = Router(model_list=groups, fallbacks=fallbacks, num_retries=0, max_fallbacks=2)
    with pytest.raises(polyrelay.InternalServerError):
        router.completion(model="g0", messages=MESSAGES)
    generous = Router(model_list=groups, fallbacks=fallbacks, num_retries=0)
    assert generous.completion(model="g0", messages=MESSAGES)._hidden_params["model_id"] == "ok"


def test_model_group_info():
    router = Router(model_list=[mock("a", rpm=10, info={"max_input_tokens": 1000}),
                                mock("b", rpm=20, info={"max_input_tokens": 4000})])
    info = router.get_model_group_info("g")
    assert info.model_group == "g" and info.max_input_tokens == 4000 and info.rpm == 30
    assert info.providers == ["mock"]
    assert router.get_model_group_info("unknown") is None
