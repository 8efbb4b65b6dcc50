"""router_settings from a LiteLLM config reach the Router through the
gateway: model_group_alias (plain and hidden), order, enable_pre_call_checks,
retry and allowed-fails policies (checked at start-up). And no caller can
take a shared deployment offline for everyone (issue 12 item 6)."""

from __future__ import annotations

import openai
import pytest

from conftest import reset
from fakeserver import Reply
from gateway_process import GatewayProcess, run_cli

MASTER = "sk-master-router-settings-1"
OK = {"id": "c1", "object": "chat.completion", "created": 1, "model": "gpt-4o",
      "choices": [{"index": 0, "message": {"role": "assistant", "content": "fine"}, "finish_reason": "stop"}],
      "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}
HELLO = [{"role": "user", "content": "Hello!"}]
CONFIG = f"""
model_list:
  - model_name: shared
    litellm_params:
      model: openai/gpt-4o
      api_base: os.environ/FAKE_UPSTREAM_BASE
      api_key: sk-admin-upstream-key-000000
  - model_name: mocked
    litellm_params: {{model: mock/gpt-4o}}
  - model_name: ordered
    litellm_params: {{model: mock/primary, order: 1, mock_status: 500}}
    model_info: {{id: primary}}
  - model_name: ordered
    litellm_params: {{model: mock/backup, order: 2}}
    model_info: {{id: backup}}
  - model_name: flaky
    litellm_params: {{model: mock/flaky, mock_status: 429}}
  - model_name: sized
    litellm_params: {{model: mock/small}}
    model_info: {{id: small, max_input_tokens: 50}}
  - model_name: sized
    litellm_params: {{model: mock/large}}
    model_info: {{id: large, max_input_tokens: 100000}}
router_settings:
  num_retries: 1
  allowed_fails: 3
  cooldown_time: 60
  enable_pre_call_checks: true
  model_group_alias:
    gpt-4: mocked
    legacy: {{model: mocked, hidden: true}}
  retry_policy: {{RateLimitErrorRetries: 0, ContentPolicyViolationErrorRetries: 1}}
  allowed_fails_policy: {{InternalServerErrorAllowedFails: 1000}}
  max_fallbacks: 2
general_settings:
  master_key: {MASTER}
"""


@pytest.fixture(scope="module")
def gateway(upstream):
    process = GatewayProcess(CONFIG, env={"FAKE_UPSTREAM_BASE": upstream.url}).start()
    yield process
    process.stop()


@pytest.fixture
def client(gateway):
    with openai.OpenAI(api_key=MASTER, base_url=gateway.url, max_retries=0) as sdk:
        yield sdk


@pytest.fixture
def fake(upstream):
    reset(upstream)
    upstream.default = Reply(json=OK)
    return upstream


def served_by(client, model, messages=HELLO, **kwargs):
    raw = client.chat.completions.with_raw_response.create(model=model, messages=messages, **kwargs)
    return raw.headers["x-polyrelay-model-id"]


def test_model_group_alias_is_served_and_hidden_aliases_are_not_listed(client, gateway):
    assert client.chat.completions.create(model="gpt-4", messages=HELLO).choices[0].message.content
    assert client.chat.completions.create(model="legacy", messages=HELLO).choices[0].message.content
    listed = {m.id for m in client.models.list()}
    assert {"gpt-4", "mocked", "shared"} <= listed and "legacy" not in listed
    assert "not a setting" not in gateway.log  # every router setting was taken, none ignored


def test_order_tries_the_next_deployment_when_the_first_fails(client):
    assert {served_by(client, "ordered") for _ in range(5)} == {"backup"}


def test_pre_call_checks_skip_a_deployment_too_small_for_the_prompt(client):
    long_prompt = [{"role": "user", "content": "word " * 300}]
    assert {served_by(client, "sized", long_prompt) for _ in range(10)} == {"large"}


def test_a_bogus_client_api_key_does_not_take_the_deployment_offline(client, fake, gateway):
    fake.reply(Reply(401, json={"error": {"message": "Incorrect API key provided", "type": "invalid_request_error",
                                          "code": "invalid_api_key"}}))
    with pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(model="shared", messages=HELLO, extra_body={"api_key": "sk-bogus-000000000"})
    assert gateway.metric("polyrelay_deployment_state", model="shared") == 0  # not shown as an outage either
    assert client.chat.completions.create(model="shared", messages=HELLO).choices[0].message.content == "fine"


def test_tiny_client_timeouts_do_not_take_the_deployment_offline(client, fake):
    fake.default = Reply(json=OK, delay=0.05)
    for _ in range(4):
        with pytest.raises(openai.APIStatusError):
            client.chat.completions.create(model="shared", messages=HELLO, extra_body={"timeout": 1e-9})
    assert client.chat.completions.create(model="shared", messages=HELLO).choices[0].message.content == "fine"


def test_mock_status_does_not_take_the_deployment_offline(client):
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="mocked", messages=HELLO, extra_body={"mock_status": 429})
    assert client.chat.completions.create(model="mocked", messages=HELLO).choices[0].message.content


def test_a_deployments_own_failures_still_cool_it_down(client):
    with pytest.raises(openai.RateLimitError) as first:
        client.chat.completions.create(model="flaky", messages=HELLO)
    assert "No deployments available" not in first.value.message  # the deployment's own 429...
    with pytest.raises(openai.RateLimitError, match="No deployments available"):
        client.chat.completions.create(model="flaky", messages=HELLO)  # ...cooled it down


def test_a_misspelt_retry_policy_field_stops_start_up(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("model_list:\n  - model_name: m\n    litellm_params: {model: mock/m}\n"
                    "router_settings:\n  retry_policy: {RateLimitRetries: 2}\n")
    result = run_cli("--config", str(path), "--port", "1")
    assert result.returncode == 2
    assert "router_settings.retry_policy.RateLimitRetries" in result.stderr and "Traceback" not in result.stderr


POLICY_CONFIG = """
model_list:
  - model_name: upstream
    litellm_params: {model: openai/gpt-4o, api_base: os.environ/FAKE_UPSTREAM_BASE, api_key: sk-upstream-000000}
  - model_name: first
    litellm_params: {model: mock/first, mock_status: 500}
  - model_name: second
    litellm_params: {model: mock/second, mock_status: 500}
  - model_name: third
    litellm_params: {model: mock/third}
router_settings:
  num_retries: 1
  retry_after: 0
  retry_policy: {RateLimitErrorRetries: 0, InternalServerErrorRetries: 2}
  allowed_fails_policy: {InternalServerErrorAllowedFails: 1000, RateLimitErrorAllowedFails: 1000}
  fallbacks: [{"first": ["second", "third"]}]
  max_fallbacks: %s
"""


@pytest.fixture(scope="module")
def policy_gateway(upstream):
    process = GatewayProcess(POLICY_CONFIG % 1, env={"FAKE_UPSTREAM_BASE": upstream.url}).start()
    yield process
    process.stop()


def test_retry_policy_sets_retries_per_error_class(policy_gateway, fake):
    with openai.OpenAI(api_key="x", base_url=policy_gateway.url, max_retries=0) as client:
        # Two failures, then an answer: num_retries 1 alone would give up after the second failure.
        fake.reply(*[Reply(status=500, json={"error": {"message": "boom", "type": "server_error"}})] * 2)
        assert client.chat.completions.create(model="upstream", messages=HELLO).choices[0].message.content == "fine"
        assert len(fake.requests) == 3  # InternalServerErrorRetries: 2
        fake.requests.clear()
        fake.reply(Reply(status=429, json={"error": {"message": "slow down", "type": "rate_limit"}}))
        with pytest.raises(openai.RateLimitError):
            client.chat.completions.create(model="upstream", messages=HELLO)
        assert len(fake.requests) == 1  # RateLimitErrorRetries: 0, though num_retries is 1


def test_max_fallbacks_limits_how_many_fallback_groups_are_tried(policy_gateway, upstream):
    with openai.OpenAI(api_key="x", base_url=policy_gateway.url, max_retries=0) as client:
        with pytest.raises(openai.InternalServerError):  # max_fallbacks: 1 -> only "second", which fails too
            client.chat.completions.create(model="first", messages=HELLO)
    process = GatewayProcess(POLICY_CONFIG % 2, env={"FAKE_UPSTREAM_BASE": upstream.url}).start()
    try:
        with openai.OpenAI(api_key="x", base_url=process.url, max_retries=0) as client:
            raw = client.chat.completions.with_raw_response.create(model="first", messages=HELLO)
            assert raw.parse().model.endswith("third")
    finally:
        process.stop()


FAILS_CONFIG = """
model_list:
  - model_name: upstream
    litellm_params: {model: openai/gpt-4o, api_base: os.environ/FAKE_UPSTREAM_BASE, api_key: sk-upstream-000000}
router_settings:
  num_retries: 0
  allowed_fails: 0
  cooldown_time: 60
%s"""


@pytest.mark.parametrize("policy,reached", [
    ("", 1),  # allowed_fails: 0 -> the first server error cools the deployment
    ("  allowed_fails_policy: {InternalServerErrorAllowedFails: 2}\n", 3),  # two more allowed for this class
])
def test_allowed_fails_policy_sets_failures_before_cooldown_per_error_class(upstream, policy, reached):
    fake = reset(upstream)
    fake.default = Reply(status=500, json={"error": {"message": "boom", "type": "server_error"}})
    process = GatewayProcess(FAILS_CONFIG % policy, env={"FAKE_UPSTREAM_BASE": upstream.url}).start()
    try:
        with openai.OpenAI(api_key="x", base_url=process.url, max_retries=0) as client:
            messages = []
            for _ in range(5):
                with pytest.raises(openai.APIStatusError) as caught:
                    client.chat.completions.create(model="upstream", messages=HELLO)
                messages.append(caught.value.message)
        assert len(fake.requests) == reached  # then cooled: no more calls reach the upstream
        assert all("No deployments available" in m for m in messages[reached:])
    finally:
        process.stop()
