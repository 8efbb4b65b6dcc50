"""Providers' pricing quirks, each through the provider's documented answer shape
on a fake server: the usage a provider reports is read the way it bills it."""

import json
import logging
from decimal import Decimal
from pathlib import Path

import pytest

import polyrelay
from fakeserver import Reply, sse
from polyrelay import cost, usage_checks
from polyrelay.catalog import CATALOG, ENV_VAR
from polyrelay.providers.base import Call, Credentials

MESSAGES = [{"role": "user", "content": "What did the accountants say?"}]
FIXTURES = Path(__file__).parent.parent / "providers" / "fixtures"
AZURE_KEY = "0123456789abcdef0123456789abcdef"


@pytest.fixture(autouse=True)
def fresh_catalog(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    CATALOG.reload()
    cost._warn_unknown.cache_clear()
    usage_checks.ANOMALIES.clear()
    yield
    CATALOG.reload()


def per_m(*terms):
    """Sum of (tokens, USD per 1M tokens) pairs, exactly."""
    return float(sum(Decimal(tokens) * Decimal(str(price)) for tokens, price in terms) / Decimal(1_000_000))


def openai_body(model, usage, **extra):
    return {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello!"}, "finish_reason": "stop"}],
            "usage": usage, **extra}


def prices_of(model):
    return CATALOG.find(model)[1]


# ---------------------------------------------------------------- Azure deployments with names of their own
def azure(fake, **kwargs):
    return polyrelay.completion(model=kwargs.pop("model", "azure/prod-chat"), messages=MESSAGES, api_base=fake.url,
                                api_key=AZURE_KEY, api_version="2024-10-21", **kwargs)


def test_azure_custom_name_priced_by_base_model(fake):
    fake.reply(Reply(json=openai_body("gpt-4o-2024-08-06", {"prompt_tokens": 1000, "completion_tokens": 100,
                                                            "total_tokens": 1100})))
    response = azure(fake, model_info={"base_model": "azure/gpt-4o-mini"})
    assert response._hidden_params["response_cost"] == per_m((1000, 0.15), (100, 0.60))


def test_azure_custom_name_priced_by_the_model_the_upstream_reports(fake):
    # Azure answers with the model behind the deployment, e.g. gpt-4o-2024-11-20.
    fake.reply(Reply(json=openai_body("gpt-4o-2024-11-20", {"prompt_tokens": 1000, "completion_tokens": 100,
                                                            "total_tokens": 1100})))
    response = azure(fake)
    assert response._hidden_params["response_cost"] == per_m((1000, 2.50), (100, 10.00))


def test_azure_unknown_deployment_warns_once(fake, caplog):
    body = openai_body("house-model-7", {"prompt_tokens": 10, "completion_tokens": 1, "total_tokens": 11})
    fake.reply(Reply(json=body), Reply(json=body))
    with caplog.at_level(logging.WARNING, logger="polyrelay"):
        assert azure(fake)._hidden_params["response_cost"] == 0.0
        assert azure(fake)._hidden_params["response_cost"] == 0.0
    assert sum("no price for model azure/prod-chat" in r.getMessage() for r in caplog.records) == 1


# ---------------------------------------------------------------- Anthropic
def anthropic_answer(fake, model, usage):
    fake.reply(Reply(json={
        "id": "msg_1", "type": "message", "role": "assistant", "model": model,
        "content": [{"type": "text", "text": "Done."}], "stop_reason": "end_turn", "stop_sequence": None,
        "usage": usage}))
    return polyrelay.completion(model=f"anthropic/{model}", messages=MESSAGES, api_base=fake.url,
                                api_key="sk-ant-test")


def test_anthropic_above_200k_with_one_hour_cache_writes(fake):
    # Sonnet 4.5 above 200K input: $6 input, $22.50 output, $7.50 5-minute writes, and 1-hour
    # writes at 2x the long-context input, $12 (not the $6 short-context 1-hour rate).
    response = anthropic_answer(fake, "claude-sonnet-4-5-20250929", {
        "input_tokens": 150_000, "cache_creation_input_tokens": 60_000, "cache_read_input_tokens": 0,
        "output_tokens": 1_000,
        "cache_creation": {"ephemeral_5m_input_tokens": 10_000, "ephemeral_1h_input_tokens": 50_000}})
    assert response.usage.prompt_tokens == 210_000
    assert response._hidden_params["response_cost"] == pytest.approx(
        per_m((150_000, 6.00), (10_000, 7.50), (50_000, 12.00), (1_000, 22.50)), rel=1e-12)


def test_anthropic_web_search_is_charged_per_use(fake):
    # The usage block of Anthropic's web search tool documentation; $10 per 1,000 searches.
    response = anthropic_answer(fake, "claude-sonnet-4-5-20250929", {
        "input_tokens": 105, "output_tokens": 6039, "cache_read_input_tokens": 7123,
        "cache_creation_input_tokens": 7345, "server_tool_use": {"web_search_requests": 1}})
    tokens = per_m((105, 3.00), (7123, 0.30), (7345, 3.75), (6039, 15.00))
    assert response._hidden_params["response_cost"] == pytest.approx(tokens + 0.01, rel=1e-12)


# ---------------------------------------------------------------- xAI
def test_xai_reasoning_tokens_are_completion_tokens(fake, monkeypatch):
    monkeypatch.setenv("XAI_API_KEY", "xai-test-key-123456")
    # xAI's documented usage: completion_tokens leaves out the 94 reasoning tokens its total counts.
    fake.reply(Reply(json=openai_body("grok-4.3", {
        "prompt_tokens": 32, "completion_tokens": 9, "total_tokens": 135,
        "prompt_tokens_details": {"text_tokens": 32, "audio_tokens": 0, "image_tokens": 0, "cached_tokens": 6},
        "completion_tokens_details": {"reasoning_tokens": 94, "audio_tokens": 0, "accepted_prediction_tokens": 0,
                                      "rejected_prediction_tokens": 0},
        "num_sources_used": 0})))
    response = polyrelay.completion(model="xai/grok-4.3", messages=MESSAGES, api_base=fake.url)
    assert (response.usage.prompt_tokens, response.usage.completion_tokens, response.usage.total_tokens) == (
        32, 103, 135)
    prices = prices_of("xai/grok-4.3")
    expected = per_m((26, prices["input_cost_per_token"] * 1e6), (6, prices["cache_read_input_token_cost"] * 1e6),
                     (103, prices["output_cost_per_token"] * 1e6))
    assert response._hidden_params["response_cost"] == pytest.approx(expected, rel=1e-9)


def test_a_total_the_provider_reported_is_kept(fake):
    # An OpenAI answer whose total counts more than prompt + completion keeps its own total.
    fake.reply(Reply(json=openai_body("gpt-4o", {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 18})))
    response = polyrelay.completion(model="openai/gpt-4o", messages=MESSAGES, api_base=fake.url, api_key="sk-t")
    assert response.usage.total_tokens == 18


# ---------------------------------------------------------------- Gemini, Cohere
def test_gemini_tool_use_prompt_tokens_are_prompt_input(fake):
    fake.reply(Reply(json={
        "candidates": [{"content": {"role": "model", "parts": [{"text": "It rained."}]}, "finishReason": "STOP",
                        "index": 0}],
        "usageMetadata": {"promptTokenCount": 12, "candidatesTokenCount": 40, "toolUsePromptTokenCount": 300,
                          "thoughtsTokenCount": 20, "totalTokenCount": 372},
        "modelVersion": "gemini-2.5-flash"}))
    response = polyrelay.completion(model="gemini/gemini-2.5-flash", messages=MESSAGES, api_base=fake.url,
                                    api_key="AIza-test-key")
    assert (response.usage.prompt_tokens, response.usage.completion_tokens, response.usage.total_tokens) == (
        312, 60, 372)
    assert response._hidden_params["response_cost"] == per_m((312, 0.30), (60, 2.50))


def test_cohere_cost_from_billed_units(fake):
    fake.reply(Reply(json=json.loads((FIXTURES / "cohere" / "chat.json").read_text())))
    response = polyrelay.completion(model="cohere/command-r-plus", messages=MESSAGES, api_base=fake.url,
                                   api_key="co-test-key")
    assert response.usage.prompt_tokens == 215  # what the model processed, template included
    assert response._hidden_params["response_cost"] == per_m((17, 2.50), (26, 10.00))  # what Cohere bills


# ---------------------------------------------------------------- OpenAI service tiers
@pytest.mark.parametrize("tier,rates", [("flex", (0.625, 0.0625, 5.00)), ("priority", (2.50, 0.25, 20.00)),
                                        ("default", (1.25, 0.125, 10.00))])
def test_service_tier_priced_at_the_tier_that_served(fake, tier, rates):
    fake.reply(Reply(json=openai_body("gpt-5-2025-08-07", {
        "prompt_tokens": 2000, "completion_tokens": 300, "total_tokens": 2300,
        "prompt_tokens_details": {"cached_tokens": 1024, "audio_tokens": 0}}, service_tier=tier)))
    response = polyrelay.completion(model="openai/gpt-5", messages=MESSAGES, api_base=fake.url, api_key="sk-t",
                                    service_tier="priority")
    inp, read, out = rates
    assert response._hidden_params["response_cost"] == pytest.approx(per_m((976, inp), (1024, read), (300, out)),
                                                                     rel=1e-12)


# ---------------------------------------------------------------- provider-reported cost, Groq streams
def test_openrouter_reported_cost_wins(fake, monkeypatch):
    monkeypatch.setenv("OPENROUTER_API_KEY", "or-key-12345678")
    fake.reply(Reply(json=openai_body("openai/gpt-4o", {
        "prompt_tokens": 194, "completion_tokens": 2, "total_tokens": 196, "cost": 0.00095, "is_byok": False,
        "prompt_tokens_details": {"cached_tokens": 0}, "cost_details": {"upstream_inference_cost": None}})))
    response = polyrelay.completion(model="openrouter/openai/gpt-4o", messages=MESSAGES, api_base=fake.url)
    assert response._hidden_params["response_cost"] == 0.00095


def test_groq_stream_usage_read_from_x_groq(fake, monkeypatch):
    monkeypatch.setenv("GROQ_API_KEY", "gsk_test_key_123456")
    base = {"id": "chatcmpl-9", "object": "chat.completion.chunk", "created": 1,
            "model": "llama-3.3-70b-versatile", "system_fingerprint": "fp_1"}
    fake.reply(Reply(stream=sse(
        {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hi"}, "finish_reason": None}]},
        {**base, "choices": [{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}],
         "x_groq": {"id": "req_01", "usage": {"queue_time": 0.02, "prompt_tokens": 24, "prompt_time": 0.003,
                                              "completion_tokens": 377, "completion_time": 0.6,
                                              "total_tokens": 401, "total_time": 0.6}}},
    )))
    stream = polyrelay.completion(model="groq/llama-3.3-70b-versatile", messages=MESSAGES, api_base=fake.url,
                                  stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (24, 377)
    assert not stream._hidden_params.get("usage_estimated")
    assert stream.response_cost == per_m((24, 0.59), (377, 0.79))


# ---------------------------------------------------------------- Bedrock streams rebuilt
@pytest.mark.parametrize("model_id", ["us.anthropic.claude-3-5-sonnet-20240620-v1:0",
                                      "eu.anthropic.claude-3-5-sonnet-20240620-v1:0"])
def test_bedrock_stream_rebuilt_is_priceable(fake, model_id):
    pytest.importorskip("botocore")
    from providers.test_bedrock import EVENTSTREAM, stream_fixture  # the binary event-stream framing

    fake.reply(Reply(stream=stream_fixture("converse_stream_events.json"), headers=EVENTSTREAM))
    stream = polyrelay.completion(model=f"bedrock/{model_id}", messages=MESSAGES, api_base=fake.url,
                                  aws_access_key_id="AKIDEXAMPLE12345678", aws_secret_access_key="secret-key-123456",
                                  aws_region_name="us-east-1", stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    rebuilt = polyrelay.stream_chunk_builder(chunks)
    prices = prices_of(f"bedrock/{model_id}")
    expected = 12 * prices["input_cost_per_token"] + 8 * prices["output_cost_per_token"]
    assert polyrelay.completion_cost(completion_response=rebuilt) == pytest.approx(expected, rel=1e-12)
    assert stream.response_cost == pytest.approx(expected, rel=1e-12)


# ---------------------------------------------------------------- bad values never corrupt spend
@pytest.mark.parametrize("bad_usage,problem", [
    ({"prompt_tokens": -50, "completion_tokens": 10, "total_tokens": -40}, "bad_prompt_tokens"),
    ({"prompt_tokens": 100, "completion_tokens": "lots", "total_tokens": 100}, "bad_completion_tokens"),
    ({"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110,
      "prompt_tokens_details": {"cached_tokens": 900}}, "cached_over_prompt"),
    ({"prompt_tokens": 5_000_000, "completion_tokens": 10, "total_tokens": 5_000_010}, "prompt_over_context"),
    ({"prompt_tokens": None, "completion_tokens": [3], "total_tokens": "x"}, "bad_completion_tokens"),
    ({"prompt_tokens": 10**12, "completion_tokens": 1, "total_tokens": 10**12 + 1}, "bad_prompt_tokens"),
])
def test_bad_usage_is_clamped_with_a_warning(fake, caplog, bad_usage, problem):
    fake.reply(Reply(body=json.dumps(openai_body("gpt-4o", bad_usage)).encode(),
                     headers={"Content-Type": "application/json"}))
    with caplog.at_level(logging.WARNING, logger="polyrelay"):
        response = polyrelay.completion(model="openai/gpt-4o", messages=MESSAGES, api_base=fake.url, api_key="sk-t")
    spent = response._hidden_params["response_cost"]
    assert 0.0 <= spent <= per_m((128_000, 2.50), (16_384, 10.00))  # never negative, never past a full context
    assert response.usage.prompt_tokens >= 0 and response.usage.completion_tokens >= 0
    assert usage_checks.ANOMALIES[("openai", problem)] == 1
    assert any("unusable usage" in r.getMessage() for r in caplog.records)


def test_cached_over_prompt_is_capped_at_the_prompt(fake):
    fake.reply(Reply(json=openai_body("gpt-4o", {"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110,
                                                 "prompt_tokens_details": {"cached_tokens": 900}})))
    response = polyrelay.completion(model="openai/gpt-4o", messages=MESSAGES, api_base=fake.url, api_key="sk-t")
    assert response.usage.prompt_tokens_details.cached_tokens == 100
    assert response._hidden_params["response_cost"] == per_m((100, 1.25), (10, 10.00))


# ---------------------------------------------------------------- custom prices
def test_custom_input_price_scales_the_cache_prices():
    # gpt-4o lists $2.50 input and $1.25 cache reads; a deployment priced at $1.25 input reads cache at $0.625.
    call = Call(kind="chat", provider="openai", model="gpt-4o", params={}, creds=Credentials())
    used = {"prompt_tokens": 2000, "completion_tokens": 0, "prompt_tokens_details": {"cached_tokens": 1000}}
    assert cost.response_cost(call, used, {"input_cost_per_token": 1.25e-6}) == per_m((1000, 1.25), (1000, 0.625))
    given = {"input_cost_per_token": 1.25e-6, "cache_read_input_token_cost": 1e-7}
    assert cost.response_cost(call, used, given) == per_m((1000, 1.25), (1000, 0.10))
