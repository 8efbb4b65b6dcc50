"""LiteLLM's mock_response family, the way users' own test suites use it.

Every test runs with ``no_network``: a mocked call that tried to connect
anywhere would fail it.
"""

from __future__ import annotations

import time

import openai
import pytest

import polyrelay as litellm
from polyrelay import Router

MESSAGES = [{"role": "user", "content": "Hey, I'm a mock request"}]
TOOL_CALL = {"id": "call_1", "type": "function",
             "function": {"name": "get_weather", "arguments": "{\"location\": \"Boston\"}"}}


def test_string_answer(no_network):
    response = litellm.completion(model="gpt-3.5-turbo", messages=MESSAGES,
                                  mock_response="It's simple to use and easy to get started")
    assert response.choices[0].message.content == "It's simple to use and easy to get started"
    assert response.choices[0].finish_reason == "stop"
    assert response.usage.total_tokens == response.usage.prompt_tokens + response.usage.completion_tokens > 0
    assert response._hidden_params["custom_llm_provider"] == "openai"


def test_string_answer_streams(no_network):
    complete_response = ""
    for chunk in litellm.completion(model="gpt-3.5-turbo", messages=MESSAGES, stream=True,
                                    mock_response="It's simple to use and easy to get started"):
        complete_response += chunk["choices"][0]["delta"]["content"] or ""
    assert complete_response == "It's simple to use and easy to get started"


@pytest.mark.anyio
async def test_async_and_async_stream(no_network):
    response = await litellm.acompletion(model="claude-3-5-sonnet-20240620", messages=MESSAGES, mock_response="hi")
    assert response.choices[0].message.content == "hi"
    pieces = [chunk.choices[0].delta.content or "" async for chunk in
              await litellm.acompletion(model="gpt-4o", messages=MESSAGES, stream=True, mock_response="hello there")]
    assert "".join(pieces) == "hello there"


def test_any_model_name_works_when_mocked(no_network):
    response = litellm.completion(model="my-own-finetune", messages=MESSAGES, mock_response="ok")
    assert response.choices[0].message.content == "ok"


def test_n_choices(no_network):
    response = litellm.completion(model="gpt-4o", messages=MESSAGES, n=3, mock_response="same")
    assert [c.index for c in response.choices] == [0, 1, 2]
    assert {c.message.content for c in response.choices} == {"same"}
    chunks = list(litellm.completion(model="gpt-4o", messages=MESSAGES, n=2, stream=True, mock_response="ab"))
    rebuilt = litellm.stream_chunk_builder(chunks, messages=MESSAGES)
    assert [c.message.content for c in rebuilt.choices] == ["ab", "ab"]


def test_mock_tool_calls(no_network):
    response = litellm.completion(model="gpt-4o", messages=MESSAGES, mock_tool_calls=[TOOL_CALL])
    message = response.choices[0].message
    assert message.content is None
    assert message.tool_calls[0].id == "call_1"
    assert message.tool_calls[0].function.name == "get_weather"
    assert response.choices[0].finish_reason == "tool_calls"
    streamed = litellm.stream_chunk_builder(list(litellm.completion(
        model="gpt-4o", messages=MESSAGES, stream=True, mock_tool_calls=[TOOL_CALL])))
    assert streamed.choices[0].message.tool_calls[0].function.arguments == "{\"location\": \"Boston\"}"


def test_dict_and_model_response(no_network):
    canned = {"choices": [{"message": {"role": "assistant", "content": "from a dict"}}],
              "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}}
    response = litellm.completion(model="gpt-4o", messages=MESSAGES, mock_response=canned)
    assert response.choices[0].message.content == "from a dict"
    assert response.usage.total_tokens == 3
    again = litellm.completion(model="gpt-4o", messages=MESSAGES, mock_response=response)
    assert again.choices[0].message.content == "from a dict"
    assert again.id == response.id
    text = "".join(c.choices[0].delta.content or "" for c in litellm.completion(
        model="gpt-4o", messages=MESSAGES, stream=True, mock_response=canned))
    assert text == "from a dict"


def test_exception_instance_is_raised_as_mapped_error(no_network):
    class ProviderDown(Exception):
        status_code = 503

    with pytest.raises(litellm.ServiceUnavailableError) as raised:
        litellm.completion(model="gpt-4o", messages=MESSAGES, mock_response=ProviderDown("upstream down"))
    assert raised.value.status_code == 503
    assert "upstream down" in raised.value.message
    with pytest.raises(litellm.InternalServerError) as raised:
        litellm.completion(model="gpt-4o", messages=MESSAGES, mock_response=Exception("no status"))
    assert raised.value.status_code == 500
    with pytest.raises(openai.RateLimitError):
        litellm.completion(model="gpt-4o", messages=MESSAGES,
                           mock_response=litellm.RateLimitError("slow down", llm_provider="openai", model="gpt-4o"))


@pytest.mark.parametrize("value,error,status", [
    ("litellm.RateLimitError", litellm.RateLimitError, 429),
    ("litellm.InternalServerError", litellm.InternalServerError, 500),
    ("Exception: content_filter_policy", litellm.ContentPolicyViolationError, 400),
    ("Exception: mock_streaming_error", litellm.ServiceUnavailableError, 529),
])
def test_error_strings(no_network, value, error, status):
    with pytest.raises(error) as raised:
        litellm.completion(model="gpt-4o", messages=MESSAGES, mock_response=value)
    assert raised.value.status_code == status


def test_streaming_error_is_raised_while_iterating(no_network):
    stream = litellm.completion(model="gpt-4o", messages=MESSAGES, stream=True,
                                mock_response="Exception: mock_streaming_error")
    with pytest.raises(litellm.ServiceUnavailableError) as raised:
        list(stream)
    assert raised.value.status_code == 529


def test_mock_timeout_waits_the_timeout_then_raises(no_network):
    started = time.perf_counter()
    with pytest.raises(litellm.Timeout) as raised:
        litellm.completion(model="gpt-4o", messages=MESSAGES, mock_timeout=True, timeout=0.2)
    assert time.perf_counter() - started >= 0.2
    assert isinstance(raised.value, openai.APITimeoutError)


def test_embedding_mock_response(no_network):
    response = litellm.embedding(model="text-embedding-3-small", input=["a", "b"], mock_response=[0.1, 0.2, 0.3])
    assert [d.embedding for d in response.data] == [[0.1, 0.2, 0.3], [0.1, 0.2, 0.3]]
    assert response.usage.prompt_tokens > 0


def test_mock_completion(no_network):
    assert litellm.mock_completion(model="gpt-4o", messages=MESSAGES).choices[0].message.content == \
        "This is a mock request"
    chunks = list(litellm.mock_completion(model="gpt-4o", messages=MESSAGES, stream=True, mock_response="abc"))
    assert litellm.stream_chunk_builder(chunks).choices[0].message.content == "abc"


# -- with the Router: mocked failures retry and fall back like real ones -------------------------------


def test_router_retries_a_mocked_error_with_status(no_network):
    class ProviderError(Exception):
        status_code = 502

    router = Router(model_list=[{"model_name": "gpt", "litellm_params": {"model": "gpt-4o"}},
                                {"model_name": "gpt", "litellm_params": {"model": "gpt-4o-mini"}}], num_retries=2)
    with pytest.raises(litellm.InternalServerError) as raised:
        router.completion(model="gpt", messages=MESSAGES, mock_response=ProviderError("bad gateway"))
    assert raised.value.status_code == 502
    assert raised.value.num_retries == 2  # tried 3 times: a 5xx is worth retrying


def test_router_does_not_retry_a_mocked_bad_request(no_network):
    class Invalid(Exception):
        status_code = 400

    router = Router(model_list=[{"model_name": "gpt", "litellm_params": {"model": "gpt-4o"}}], num_retries=2)
    with pytest.raises(litellm.BadRequestError) as raised:
        router.completion(model="gpt", messages=MESSAGES, mock_response=Invalid("bad"))
    assert raised.value.num_retries == 0


def test_router_falls_back_from_mocked_failing_deployment(no_network):
    router = Router(model_list=[
        {"model_name": "primary", "litellm_params": {"model": "gpt-4o", "mock_response": Exception("down")}},
        {"model_name": "backup", "litellm_params": {"model": "claude-3-5-sonnet-20240620",
                                                    "mock_response": "from backup"}},
    ], fallbacks=[{"primary": ["backup"]}], num_retries=0)
    response = router.completion(model="primary", messages=MESSAGES)
    assert response.choices[0].message.content == "from backup"


def test_router_mock_testing_fallbacks(no_network):
    router = Router(model_list=[
        {"model_name": "primary", "litellm_params": {"model": "gpt-4o", "mock_response": "from primary"}},
        {"model_name": "backup", "litellm_params": {"model": "gpt-4o-mini", "mock_response": "from backup"}},
    ], fallbacks=[{"primary": ["backup"]}], num_retries=0)
    assert router.completion(model="primary", messages=MESSAGES).choices[0].message.content == "from primary"
    response = router.completion(model="primary", messages=MESSAGES, mock_testing_fallbacks=True)
    assert response.choices[0].message.content == "from backup"
    assert response._hidden_params["fallback_from"] == "primary"


def test_mock_testing_fallbacks_without_fallbacks_raises(no_network):
    with pytest.raises(litellm.InternalServerError, match="to trigger a fallback"):
        litellm.completion(model="gpt-4o", messages=MESSAGES, mock_testing_fallbacks=True)


def test_router_mock_timeout_uses_router_timeout(no_network):
    router = Router(model_list=[{"model_name": "gpt", "litellm_params": {"model": "gpt-4o"}}], num_retries=0,
                    timeout=0.1)
    with pytest.raises(litellm.Timeout):
        router.completion(model="gpt", messages=MESSAGES, mock_timeout=True)
