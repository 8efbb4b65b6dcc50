"""Cost: hand-computed figures per provider, overrides, unknown models, the request path."""

import logging
from decimal import Decimal

import pytest

import polyrelay
from fakeserver import Reply, sse
from polyrelay import cost, usage
from polyrelay.catalog import CATALOG, ENV_VAR
from polyrelay.providers.base import Call, Credentials

MESSAGES = [{"role": "user", "content": "Say hello to the accountants."}]


@pytest.fixture(autouse=True)
def fresh_catalog(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    CATALOG.reload()
    cost._warn_unknown.cache_clear()
    yield
    CATALOG.reload()
    cost._warn_unknown.cache_clear()


def per_m(*terms):
    """Sum of (tokens, USD per 1M tokens) pairs, computed exactly."""
    return float(sum(Decimal(tokens) * Decimal(str(price)) for tokens, price in terms) / Decimal(1_000_000))


def by_hand(usage_, input_price, output_price, cache_read_price=None, cache_write_price=None):
    """The documented formula, per 1M-token prices, from a usage object."""
    details = usage_.prompt_tokens_details
    cached = (details.cached_tokens or 0) if details else 0
    written = getattr(usage_, "cache_creation_input_tokens", None) or 0
    return per_m((usage_.prompt_tokens - cached - written, input_price), (cached, cache_read_price or input_price),
                 (written, cache_write_price or input_price), (usage_.completion_tokens, output_price))


def openai_body(model, prompt, completion, cached=None, **usage_extra):
    usage_ = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
              **usage_extra}
    if cached is not None:
        usage_["prompt_tokens_details"] = {"cached_tokens": cached, "audio_tokens": 0}
    return {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello!"}, "finish_reason": "stop"}],
            "usage": usage_}


# ---------------------------------------------------------------- formulas
def test_openai_plain():
    assert polyrelay.cost_per_token("gpt-4o", prompt_tokens=1000, completion_tokens=500) == (0.0025, 0.005)
    response = polyrelay.ModelResponse.from_dict(openai_body("gpt-4o-2024-08-06", 1000, 500))
    assert polyrelay.completion_cost(completion_response=response) == 0.0075


def test_openai_cached_tokens_cost_less():
    # gpt-4o-mini: $0.15 input, $0.075 cached input, $0.60 output per 1M tokens.
    cached = polyrelay.ModelResponse.from_dict(openai_body("gpt-4o-mini", 2000, 100, cached=1500))
    plain = polyrelay.ModelResponse.from_dict(openai_body("gpt-4o-mini", 2000, 100, cached=0))
    assert polyrelay.completion_cost(cached) == per_m((500, 0.15), (1500, 0.075), (100, 0.60)) == 0.0002475
    assert polyrelay.completion_cost(plain) == per_m((2000, 0.15), (100, 0.60))
    assert polyrelay.completion_cost(cached) < polyrelay.completion_cost(plain)


def test_anthropic_cache_write_and_read():
    # 1000 fresh input tokens + 1500 written to the cache + 500 read from it, all inside prompt_tokens.
    raw = {"prompt_tokens": 3000, "completion_tokens": 200, "cache_creation_input_tokens": 1500,
           "cache_read_input_tokens": 500, "prompt_tokens_details": {"cached_tokens": 500}}
    expected = per_m((1000, 3.00), (1500, 3.75), (500, 0.30), (200, 15.00))
    assert expected == pytest.approx(0.011775, rel=1e-12)
    assert polyrelay.cost_per_token("claude-3-5-sonnet-20240620", usage_object=raw) == (
        pytest.approx(per_m((1000, 3.00), (1500, 3.75), (500, 0.30)), rel=1e-12), pytest.approx(0.003, rel=1e-12))
    response = {"model": "claude-3-5-sonnet-20240620", "usage": raw}
    assert polyrelay.completion_cost(response) == pytest.approx(expected, rel=1e-12)
    # LiteLLM's underscored fields (no prompt_tokens_details) price the same.
    litellm_style = {"prompt_tokens": 3000, "completion_tokens": 200, "_cache_creation_input_tokens": 1500,
                     "_cache_read_input_tokens": 500}
    assert polyrelay.completion_cost({"model": "anthropic/claude-3-5-sonnet-20240620",
                                      "usage": litellm_style}) == pytest.approx(expected, rel=1e-12)
    uncached = {"prompt_tokens": 3000, "completion_tokens": 200}
    assert polyrelay.completion_cost({"model": "claude-3-5-sonnet-20240620", "usage": uncached}) > 0
    assert polyrelay.cost_per_token("claude-3-5-sonnet-20240620", prompt_tokens=3000, cache_read_input_tokens=3000)[0] \
        < polyrelay.cost_per_token("claude-3-5-sonnet-20240620", prompt_tokens=3000)[0]


def test_deepseek_cache_hit_through_usage_normalize():
    raw = {"prompt_tokens": 1000, "completion_tokens": 100, "total_tokens": 1100,
           "prompt_cache_hit_tokens": 600, "prompt_cache_miss_tokens": 400}
    measured = usage.normalize(raw)
    assert measured["prompt_tokens_details"]["cached_tokens"] == 600
    expected = per_m((400, 0.28), (600, 0.028), (100, 0.42))
    assert expected == pytest.approx(0.0001708, rel=1e-12)
    assert polyrelay.completion_cost({"model": "deepseek-chat", "usage": measured}) == pytest.approx(expected,
                                                                                                     rel=1e-12)


def test_long_context_rates_apply_to_the_whole_request():
    assert polyrelay.cost_per_token("gemini/gemini-2.5-pro", prompt_tokens=200_000, completion_tokens=1000) == \
        (pytest.approx(per_m((200_000, 1.25))), pytest.approx(per_m((1000, 10.0))))
    assert polyrelay.cost_per_token("gemini/gemini-2.5-pro", prompt_tokens=250_000, completion_tokens=1000) == \
        (pytest.approx(per_m((250_000, 2.5))), pytest.approx(per_m((1000, 15.0))))


def test_cache_reads_fall_back_to_input_price():
    # Groq publishes no cache price: cached tokens cost what input costs.
    assert polyrelay.cost_per_token("groq/llama-3.3-70b-versatile", prompt_tokens=1000, cache_read_input_tokens=800) \
        == polyrelay.cost_per_token("groq/llama-3.3-70b-versatile", prompt_tokens=1000)


def test_every_cache_price_makes_a_hit_cheaper():
    for key in CATALOG.keys():
        entry = CATALOG.get(key)
        if entry.get("cache_read_input_token_cost") is None:
            continue
        hit, _ = polyrelay.cost_per_token(key, prompt_tokens=10_000, cache_read_input_tokens=9_000)
        miss, _ = polyrelay.cost_per_token(key, prompt_tokens=10_000)
        assert hit < miss, key


def test_completion_cost_from_text():
    prompt, completion = "How many tokens is this?", "Seven, give or take."
    expected = per_m((polyrelay.token_counter("gpt-3.5-turbo", text=prompt), 0.50),
                     (polyrelay.token_counter("gpt-3.5-turbo", text=completion), 1.50))
    assert polyrelay.completion_cost(model="gpt-3.5-turbo", prompt=prompt, completion=completion) == expected
    with_messages = polyrelay.completion_cost(model="gpt-3.5-turbo", messages=MESSAGES, completion=completion)
    assert with_messages == per_m((polyrelay.token_counter("gpt-3.5-turbo", messages=MESSAGES), 0.50),
                                  (polyrelay.token_counter("gpt-3.5-turbo", text=completion), 1.50))


def test_custom_cost_per_token_and_unknown_models():
    with pytest.raises(polyrelay.NotFoundError):
        polyrelay.cost_per_token("nobody/serves-this", prompt_tokens=10)
    with pytest.raises(polyrelay.NotFoundError):
        polyrelay.completion_cost({"model": "serves-this-nobody", "usage": {"prompt_tokens": 1}})
    priced = {"input_cost_per_token": 1e-6, "output_cost_per_token": 3e-6}
    assert polyrelay.cost_per_token("nobody/serves-this", prompt_tokens=10, completion_tokens=10,
                                    custom_cost_per_token=priced) == (1e-5, 3e-5)


# ---------------------------------------------------------------- the request path
def test_per_call_override_on_mock():
    response = polyrelay.completion(model="mock/x", messages=MESSAGES,
                                    input_cost_per_token=1e-6, output_cost_per_token=2e-6)
    u = response.usage
    assert u.prompt_tokens > 0 and u.completion_tokens > 0
    expected = float(Decimal(u.prompt_tokens) * Decimal("1e-6") + Decimal(u.completion_tokens) * Decimal("2e-6"))
    assert response._hidden_params["response_cost"] == expected


def test_override_in_model_info_and_partial_override():
    response = polyrelay.completion(model="mock/x", messages=MESSAGES,
                                    model_info={"input_cost_per_token": 5e-6, "output_cost_per_token": 5e-6})
    assert response._hidden_params["response_cost"] == pytest.approx(5e-6 * response.usage.total_tokens)
    # Only the input price given: the output price stays the catalogue's ($10/1M for gpt-4o).
    priced = polyrelay.completion(model="gpt-4o", messages=MESSAGES, mock_response="Hello accountants!",
                                  input_cost_per_token=1e-6)
    assert priced._hidden_params["response_cost"] == pytest.approx(
        priced.usage.prompt_tokens * 1e-6 + priced.usage.completion_tokens * 10e-6, rel=1e-12)


def test_mock_models_cost_nothing_and_warn_nothing(caplog):
    with caplog.at_level(logging.WARNING, logger="polyrelay"):
        response = polyrelay.completion(model="mock/x", messages=MESSAGES)
    assert response._hidden_params["response_cost"] == 0.0
    assert not caplog.records


def test_mocked_real_model_is_priced_like_the_model():
    response = polyrelay.completion(model="gpt-4o", messages=MESSAGES, mock_response="Hello accountants!")
    assert response._hidden_params["response_cost"] == by_hand(response.usage, 2.50, 10.00)
    assert polyrelay.completion_cost(response) == response._hidden_params["response_cost"]


def test_registered_price_is_used_by_calls():
    polyrelay.register_model({"gpt-4o": {"input_cost_per_token": 1e-5, "output_cost_per_token": 1e-5}})
    response = polyrelay.completion(model="gpt-4o", messages=MESSAGES, mock_response="Hello!")
    assert response._hidden_params["response_cost"] == pytest.approx(1e-5 * response.usage.total_tokens)


def test_unknown_model_costs_zero_with_one_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="polyrelay"):
        first = polyrelay.completion(model="openai/not-a-real-model", messages=MESSAGES, mock_response="hi")
        second = polyrelay.completion(model="openai/not-a-real-model", messages=MESSAGES, mock_response="hi")
    assert first._hidden_params["response_cost"] == second._hidden_params["response_cost"] == 0.0
    warnings = [r for r in caplog.records if "not-a-real-model" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING


def test_request_path_never_raises(caplog):
    call = Call(kind="chat", provider="openai", model="gpt-4o", params={}, creds=Credentials())
    with caplog.at_level(logging.ERROR, logger="polyrelay"):
        assert cost.response_cost(call, {"prompt_tokens": "not a number"}) == 0.0
    assert caplog.records  # logged, not swallowed


def test_base_model_prices_a_named_deployment():
    call = Call(kind="chat", provider="azure", model="my-prod-deployment", params={}, creds=Credentials())
    used = {"prompt_tokens": 1000, "completion_tokens": 100}
    assert cost.response_cost(call, used, {"model_info": {"base_model": "azure/gpt-4o"}}) == per_m((1000, 2.5),
                                                                                                   (100, 10))


def test_router_deployment_prices_by_model_id():
    polyrelay.register_model({"deployment-7": {"input_cost_per_token": 4e-6, "output_cost_per_token": 8e-6}})
    call = Call(kind="chat", provider="openai", model="gpt-4o", params={}, creds=Credentials())
    used = {"prompt_tokens": 100, "completion_tokens": 10}
    assert cost.response_cost(call, used, hidden={"model_id": "deployment-7"}) == pytest.approx(4e-4 + 8e-5)


def test_text_completion_embedding_and_moderation_are_priced():
    text = polyrelay.text_completion(model="gpt-3.5-turbo-instruct", prompt="Say hi", mock_response="hi")
    assert text._hidden_params["response_cost"] == by_hand(text.usage, 1.50, 2.00) > 0
    vectors = polyrelay.embedding(model="text-embedding-3-small", input=["one", "two words"], mock_response="x")
    assert vectors.usage.prompt_tokens == 3
    assert vectors._hidden_params["response_cost"] == per_m((3, 0.02))
    assert polyrelay.completion_cost(vectors) == per_m((3, 0.02))
    checked = polyrelay.moderation(input="hello", mock_response="x")
    assert checked._hidden_params["response_cost"] == 0.0


def test_streaming_gets_response_cost():
    stream = polyrelay.completion(model="gpt-4o", messages=MESSAGES, mock_response="Hello there, accountants!",
                                  stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    final = chunks[-1]
    assert final.choices == [] and final.usage.completion_tokens > 1
    expected = by_hand(final.usage, 2.50, 10.00)
    assert final._hidden_params["response_cost"] == expected == stream.response_cost
    rebuilt = polyrelay.stream_chunk_builder(chunks)
    assert polyrelay.completion_cost(completion_response=rebuilt) == expected


def test_streaming_without_include_usage_is_priced_too():
    stream = polyrelay.completion(model="gpt-4o-mini", messages=MESSAGES, mock_response="Hi!", stream=True)
    chunks = list(stream)
    assert all(chunk.usage is None for chunk in chunks)
    assert stream.response_cost == by_hand(stream.usage, 0.15, 0.60) > 0


# ---------------------------------------------------------------- real wire formats (fake servers)
def test_openai_wire_with_cached_tokens(fake):
    fake.reply(Reply(json=openai_body("gpt-4o-2024-08-06", 2048, 64, cached=1024)))
    response = polyrelay.completion(model="openai/gpt-4o", messages=MESSAGES, api_base=fake.url, api_key="sk-test")
    assert response.usage.prompt_tokens_details.cached_tokens == 1024
    assert response._hidden_params["response_cost"] == per_m((1024, 2.50), (1024, 1.25), (64, 10.00))


def test_deepseek_wire_cache_hit(fake):
    body = openai_body("deepseek-chat", 1000, 100, prompt_cache_hit_tokens=600, prompt_cache_miss_tokens=400)
    fake.reply(Reply(json=body))
    response = polyrelay.completion(model="deepseek/deepseek-chat", messages=MESSAGES, api_base=fake.url,
                                    api_key="sk-test")
    assert response._hidden_params["response_cost"] == pytest.approx(per_m((400, 0.28), (600, 0.028), (100, 0.42)),
                                                                     rel=1e-12)


def test_openai_wire_stream_with_usage(fake):
    base = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini"}
    fake.reply(Reply(stream=sse(
        {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hel"}, "finish_reason": None}]},
        {**base, "choices": [{"index": 0, "delta": {"content": "lo"}, "finish_reason": "stop"}]},
        {**base, "choices": [], "usage": {"prompt_tokens": 900, "completion_tokens": 2, "total_tokens": 902,
                                          "prompt_tokens_details": {"cached_tokens": 512}}},
    )))
    stream = polyrelay.completion(model="openai/gpt-4o-mini", messages=MESSAGES, api_base=fake.url,
                                  api_key="sk-test", stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    assert chunks[-1].usage.prompt_tokens == 900
    expected = per_m((388, 0.15), (512, 0.075), (2, 0.60))
    assert chunks[-1]._hidden_params["response_cost"] == pytest.approx(expected, rel=1e-12)


def test_anthropic_one_hour_cache_writes_cost_more():
    # claude-sonnet-4: 5-minute writes $3.75/1M, 1-hour writes $6/1M.
    used = {"prompt_tokens": 2000, "completion_tokens": 0, "cache_creation_input_tokens": 1500,
            "cache_creation": {"ephemeral_5m_input_tokens": 1000, "ephemeral_1h_input_tokens": 500}}
    prompt_cost, _ = polyrelay.cost_per_token("claude-sonnet-4-20250514", usage_object=used)
    assert prompt_cost == per_m((500, 3.00), (1000, 3.75), (500, 6.00))


def test_anthropic_wire_cache_usage(fake):
    fake.reply(Reply(json={
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-3-5-sonnet-20240620",
        "content": [{"type": "text", "text": "Hello!"}], "stop_reason": "end_turn", "stop_sequence": None,
        "usage": {"input_tokens": 1000, "output_tokens": 200, "cache_creation_input_tokens": 1500,
                  "cache_read_input_tokens": 500},
    }))
    response = polyrelay.completion(model="anthropic/claude-3-5-sonnet-20240620", messages=MESSAGES,
                                    api_base=fake.url, api_key="sk-ant-test")
    assert response.usage.prompt_tokens == 3000
    assert response._hidden_params["response_cost"] == pytest.approx(
        per_m((1000, 3.00), (1500, 3.75), (500, 0.30), (200, 15.00)), rel=1e-12)


def test_per_call_prices_apply_to_streams_too():
    import polyrelay

    stream = polyrelay.completion(model="mock/priced", messages=[{"role": "user", "content": "hi"}], stream=True,
                                  stream_options={"include_usage": True}, input_cost_per_token=1e-6,
                                  output_cost_per_token=2e-6, cache_read_input_token_cost=5e-7)
    chunks = list(stream)
    usage = chunks[-1].usage
    expected = usage.prompt_tokens * 1e-6 + usage.completion_tokens * 2e-6
    assert stream._hidden_params["response_cost"] == pytest.approx(expected)
