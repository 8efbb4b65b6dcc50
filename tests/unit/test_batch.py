"""batch_completion, batch_completion_models(_all_responses) and
completion_with_retries, written as LiteLLM users write them."""

from __future__ import annotations

import asyncio
import time

import pytest

import polyrelay as litellm


def test_batch_completion_answers_each_conversation_in_order():
    responses = litellm.batch_completion(
        model="mock/gpt-4o",
        messages=[[{"role": "user", "content": "good morning? "}],
                  [{"role": "user", "content": "what's the time? "}]],
        max_tokens=50)
    assert len(responses) == 2
    assert "good morning" in responses[0].choices[0].message.content
    assert "what's the time" in responses[1].choices[0].message.content


def test_batch_completion_runs_concurrently():
    started = time.perf_counter()
    litellm.batch_completion(model="mock/gpt-4o", messages=[[{"role": "user", "content": str(i)}] for i in range(8)],
                             mock_delay=0.2)
    assert time.perf_counter() - started < 1.0  # 8 x 0.2 s one after another would take 1.6 s


def test_batch_completion_returns_failures_in_place():
    results = litellm.batch_completion(model="mock/gpt-4o", messages=[[{"role": "user", "content": "a"}], None])
    assert results[0].choices[0].message.content
    assert isinstance(results[1], Exception)


def test_batch_completion_models_returns_the_fastest():
    response = litellm.batch_completion_models(
        models=["mock/slow", "mock/fast"], messages=[{"role": "user", "content": "Hey, how's it going"}],
        mock_delay=0.0)
    assert response.choices[0].message.content
    started = time.perf_counter()
    response = litellm.batch_completion_models(
        deployments=[{"model": "mock/slow", "mock_delay": 2}, {"model": "mock/fast"}],
        messages=[{"role": "user", "content": "Hey"}])
    assert response.model == "fast" and time.perf_counter() - started < 1.5  # the slow one was not waited for


def test_batch_completion_models_skips_failures_and_raises_when_all_fail():
    response = litellm.batch_completion_models(
        deployments=[{"model": "mock/broken", "mock_status": 500}, {"model": "mock/ok", "mock_delay": 0.05}],
        messages=[{"role": "user", "content": "Hey"}])
    assert response.model == "ok"
    with pytest.raises(litellm.InternalServerError):
        litellm.batch_completion_models(models=["mock/a", "mock/b"], messages=[{"role": "user", "content": "x"}],
                                        mock_status=500)


def test_batch_completion_models_all_responses():
    responses = litellm.batch_completion_models_all_responses(
        models=["mock/a", "mock/b", "mock/c"], messages=[{"role": "user", "content": "Hey"}])
    assert [r.model for r in responses] == ["a", "b", "c"]


def test_completion_with_retries_retries_then_answers(monkeypatch):
    calls = []
    real = litellm.completion

    def flaky(*args, **kwargs):
        calls.append(kwargs)
        if len(calls) < 3:
            raise litellm.RateLimitError("slow down", llm_provider="openai", model="gpt-4o")
        return real(*args, **kwargs)

    monkeypatch.setattr(litellm, "completion", flaky)
    response = litellm.completion_with_retries(model="mock/gpt-4o", messages=[{"role": "user", "content": "hi"}])
    assert response.choices[0].message.content and len(calls) == 3
    assert calls[0]["num_retries"] == 0  # no retries inside each attempt


def test_completion_with_retries_gives_up_after_num_retries_attempts():
    attempts = []

    def always_down(**kwargs):
        attempts.append(1)
        raise litellm.InternalServerError("down", llm_provider="openai", model="gpt-4o")

    with pytest.raises(litellm.InternalServerError):
        litellm.completion_with_retries(model="gpt-4o", messages=[], num_retries=2, original_function=always_down)
    assert len(attempts) == 2


def test_acompletion_with_retries_with_exponential_backoff(monkeypatch):
    waits = []

    async def no_sleep(seconds):
        waits.append(seconds)

    attempts = []

    async def flaky(**kwargs):
        attempts.append(1)
        if len(attempts) < 3:
            raise litellm.APIConnectionError("reset", llm_provider="openai", model="gpt-4o")
        return await litellm.acompletion(**kwargs)

    async def main():
        monkeypatch.setattr(asyncio, "sleep", no_sleep)
        return await litellm.acompletion_with_retries(model="mock/gpt-4o", messages=[{"role": "user", "content": "hi"}],
                                                      retry_strategy="exponential_backoff_retry",
                                                      original_function=flaky)

    response = asyncio.run(main())
    assert response.choices[0].message.content and waits == [1.0, 2.0]
