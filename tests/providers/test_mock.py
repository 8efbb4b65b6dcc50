"""The mock/ provider: deterministic, local, real token counts, fault drills."""

from __future__ import annotations

import time

import pytest

import polyrelay
from polyrelay.tokens import count_messages, count_text

MESSAGES = [{"role": "user", "content": "Tell me about otters"}]


def test_answers_from_prompt_with_real_token_counts():
    first = polyrelay.completion(model="mock/demo", messages=MESSAGES)
    second = polyrelay.completion(model="mock/demo", messages=MESSAGES)
    text = first.choices[0].message.content
    assert text == second.choices[0].message.content == "This is a mock response to: Tell me about otters"
    assert first.usage.prompt_tokens == count_messages(MESSAGES, "demo")
    assert first.usage.completion_tokens == count_text(text, "demo")
    assert first._hidden_params["custom_llm_provider"] == "mock"


def test_streams_token_by_token_and_rebuilds():
    chunks = list(polyrelay.completion(model="mock/demo", messages=MESSAGES, stream=True,
                                       stream_options={"include_usage": True}))
    pieces = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    usage = chunks[-1].usage
    assert len(pieces) == usage.completion_tokens  # one chunk per token
    rebuilt = polyrelay.stream_chunk_builder(chunks)
    assert rebuilt.choices[0].message.content == "This is a mock response to: Tell me about otters"
    assert rebuilt.usage.total_tokens == usage.total_tokens


def test_max_tokens_truncates_with_length_finish():
    response = polyrelay.completion(model="mock/demo", messages=MESSAGES, max_tokens=3)
    assert response.usage.completion_tokens == 3 and response.choices[0].finish_reason == "length"


def test_told_to_fail_with_status():
    with pytest.raises(polyrelay.ServiceUnavailableError):
        polyrelay.completion(model="mock/demo", messages=MESSAGES, mock_status=503)
    with pytest.raises(polyrelay.RateLimitError):
        polyrelay.completion(model="mock/demo", messages=MESSAGES, mock_status=429, num_retries=1)


def test_told_to_be_slow():
    started = time.perf_counter()
    polyrelay.completion(model="mock/demo", messages=MESSAGES, mock_delay=0.2)
    assert time.perf_counter() - started >= 0.2
    with pytest.raises(polyrelay.Timeout):
        polyrelay.completion(model="mock/demo", messages=MESSAGES, mock_delay=1, timeout=0.1)


def test_mock_response_on_any_model_makes_no_network_call(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    response = polyrelay.completion(model="gpt-4o", messages=MESSAGES, mock_response="It's simple.")
    assert response.choices[0].message.content == "It's simple."
    assert response._hidden_params["custom_llm_provider"] == "openai"
    chunks = list(polyrelay.completion(model="gpt-4o", messages=MESSAGES, mock_response="a b c", stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "a b c"


def test_mock_response_exception_is_raised():
    with pytest.raises(polyrelay.RateLimitError):
        polyrelay.completion(model="gpt-4o", messages=MESSAGES,
                             mock_response=polyrelay.RateLimitError("mocked", llm_provider="openai"))


def test_text_embedding_and_moderation():
    text = polyrelay.text_completion(model="mock/demo", prompt="Say this is a test")
    assert text.choices[0].text == "This is a mock response to: Say this is a test"
    emb = polyrelay.embedding(model="mock/embed", input=["a", "b"])
    assert len(emb.data) == 2 and emb.data[0].embedding != emb.data[1].embedding
    assert emb.data[0].embedding == polyrelay.embedding(model="mock/embed", input="a").data[0].embedding
    assert abs(sum(v * v for v in emb.data[0].embedding) - 1) < 1e-9
    flagged = polyrelay.moderation(input="I will attack", model="mock/mod").results[0]
    assert flagged.flagged and flagged.categories["violence"]
    assert not polyrelay.moderation(input="hello", model="mock/mod").results[0].flagged
