import copy
import json
import pickle

import pytest

import polyrelay
from polyrelay.types import EmptyChoices, ModelResponse, ModelResponseStream
from polyrelay.types.utils import (
    ChatCompletionMessageToolCall, Choices, Delta, Function, Message, PromptTokensDetails,
    PromptTokensDetailsWrapper, StreamingChoices, Usage,
)


def make():
    return ModelResponse.from_dict({
        "id": "x", "created": 1, "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 2, "completion_tokens": 1, "total_tokens": 3, "vendor_field": 5},
    })


def test_reads_as_attributes_and_dict():
    r = make()
    assert r.usage.total_tokens == r["usage"]["total_tokens"] == 3
    assert r["choices"][0]["message"]["content"] == "hi"
    assert r.get("system_fingerprint", "none") == "none"
    assert "usage" in r and "system_fingerprint" not in r
    assert r.usage.vendor_field == 5 and r.usage["vendor_field"] == 5


def test_json_is_a_dict_like_litellm_and_model_dump_round_trips():
    r = make()
    assert r.json() == r.model_dump()
    assert r.json()["object"] == "chat.completion"
    assert ModelResponse.from_dict(r.model_dump()) == r


def test_hidden_params_do_not_leak_into_the_body():
    r = make()
    r._hidden_params = {"response_cost": 1.0, "api_base": "http://x"}
    assert "_hidden_params" not in r.model_dump() and "response_cost" not in str(r.model_dump_json())


def test_private_values_are_made_on_first_use_and_behave_as_pydantic_private_attributes():
    wire = {"id": "c1", "object": "chat.completion", "created": 1, "model": "m", "choices": []}
    fresh, read = ModelResponse.from_dict(wire), ModelResponse.from_dict(wire)
    assert read._hidden_params == {} and read._response_ms is None  # defaults, made when read
    assert fresh == read and read == fresh  # never-read values compare as their defaults
    read._hidden_params["response_cost"] = 0.5  # mutated in place, as LiteLLM's code does
    assert read._hidden_params == {"response_cost": 0.5} and fresh != read
    for twin in (copy.copy(read), copy.deepcopy(read), read.model_copy(), pickle.loads(pickle.dumps(read))):
        assert twin._hidden_params == {"response_cost": 0.5} and twin == read
    assert "_hidden_params" not in read.model_dump() and "_response_ms" not in read.model_dump_json()
    assert ModelResponse.__private_attributes__ == {}  # nothing for pydantic to fill after each validation


def test_public_api_is_exactly_all():
    import types

    # Names are bound on first use (PEP 562); dir() lists them all the same.
    public = {name for name in dir(polyrelay)
              if not name.startswith("_") and not isinstance(getattr(polyrelay, name), types.ModuleType)}
    settings = {"api_base", "api_key", "cache", "custom_provider_map", "drop_params", "num_retries", "request_timeout",
                "set_verbose", "callbacks", "success_callback", "failure_callback", "turn_off_message_logging",
                "s3_callback_params",
                "integrations", "observe"}
    assert public - settings == set(polyrelay.__all__)


# ---------------------------------------------------------------- built by hand, as LiteLLM users do
def test_model_response_with_no_arguments():
    response = ModelResponse()
    assert response.id.startswith("chatcmpl") and response.created > 0 and response.object == "chat.completion"
    assert response.choices[0].message.role == "assistant" and response.choices[0].message.content is None
    assert response.choices[0].finish_reason == "stop"
    assert response.usage.total_tokens == 0
    assert ModelResponse().id != response.id


def test_model_response_takes_litellms_none_arguments_and_hidden_params():
    response = ModelResponse(id=None, choices=None, created=None, model=None, object=None, usage=None,
                             hidden_params={"custom_llm_provider": "openai"}, response_ms=12.5)
    assert response.choices and response.usage is not None
    assert response._hidden_params == {"custom_llm_provider": "openai"} and response._response_ms == 12.5
    assert "hidden_params" not in response.model_dump()


def test_model_response_from_a_chunk_dict_with_stream_true():
    chunk = {"id": "chatcmpl-9", "object": "chat.completion.chunk", "created": 1718000000, "model": "gpt-4o",
             "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hel"}, "finish_reason": None}]}
    built = ModelResponse(**chunk, stream=True)
    assert isinstance(built, ModelResponseStream)
    assert built.object == "chat.completion.chunk" and built.id == "chatcmpl-9"
    assert built.choices[0].delta.content == "Hel" and built["choices"][0]["delta"]["role"] == "assistant"
    assert ModelResponse(stream=True).choices[0].delta.content is None


def test_usage_fills_total_and_takes_positional_and_provider_fields():
    assert Usage(prompt_tokens=1, completion_tokens=2).total_tokens == 3
    assert Usage(1, 2).total_tokens == 3 and Usage(1, 2, 10).total_tokens == 10
    assert Usage(prompt_tokens=None, completion_tokens=None).total_tokens == 0
    usage = Usage(prompt_tokens=100, completion_tokens=5, cache_read_input_tokens=60,
                  cache_creation_input_tokens=30, reasoning_tokens=4)
    assert usage.prompt_tokens_details.cached_tokens == 60
    assert usage.prompt_tokens_details.cache_creation_tokens == 30
    assert usage.completion_tokens_details.reasoning_tokens == 4
    assert Usage(prompt_tokens=9, prompt_cache_hit_tokens=7).prompt_tokens_details.cached_tokens == 7
    with pytest.raises(TypeError):
        Usage(1, 2, 3, 4)


def test_prompt_tokens_details_cache_creation_tokens():
    assert PromptTokensDetailsWrapper is PromptTokensDetails
    details = PromptTokensDetails(cached_tokens=5)
    assert details.cache_creation_tokens is None
    assert "cache_creation_tokens" not in details.model_dump()  # OpenAI's shape unless a provider reports it
    details.cache_creation_tokens = 12
    assert details.cache_creation_tokens == 12 and details.model_dump()["cache_creation_tokens"] == 12
    # A provider's usage (Anthropic's field beside OpenAI's) fills it on the way in.
    usage = Usage.from_dict({"prompt_tokens": 50, "completion_tokens": 1, "total_tokens": 51,
                             "prompt_tokens_details": {"cached_tokens": 10}, "cache_creation_input_tokens": 20})
    assert usage.prompt_tokens_details.cache_creation_tokens == 20


def test_message_choices_delta_streaming_choices_as_litellm_builds_them():
    message = Message(content="hi")
    assert (message.role, message.content) == ("assistant", "hi")
    assert Message("hello", "user").role == "user" and Message(role=None).role == "assistant"
    assert Message(content="x", tool_calls=[]).tool_calls is None
    call = Message(content=None, tool_calls=[{"id": "call_1", "type": "function",
                                              "function": {"name": "get_weather", "arguments": "{}"}}]).tool_calls[0]
    assert call.function.name == "get_weather" and call["function"]["arguments"] == "{}"
    assert json.loads(Function(name="f", arguments={"city": "Paris"}).arguments) == {"city": "Paris"}
    assert ChatCompletionMessageToolCall(function=Function(name="f")).id.startswith("call_")

    choice = Choices(finish_reason=None, index=0, message={"role": "assistant", "content": "ok"})
    assert choice.finish_reason == "stop" and choice.message.content == "ok"
    assert Choices().message.role == "assistant"
    assert Delta(content="piece").content == "piece" and Delta().role is None
    assert StreamingChoices(delta=Delta(content="a")).delta.content == "a"
    assert StreamingChoices().delta.content is None and StreamingChoices().finish_reason is None


def test_usage_only_chunk_has_empty_yet_indexable_choices():
    chunk = ModelResponseStream.from_dict({"id": "c", "created": 1, "model": "m", "choices": [],
                                           "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}})
    assert chunk.choices == [] and len(chunk.choices) == 0 and not chunk.choices and list(chunk.choices) == []
    assert chunk.choices[0].delta.content is None and chunk.choices[-1].index == 0
    assert chunk["choices"][0]["delta"]["role"] is None
    with pytest.raises(IndexError):
        chunk.choices[1]
    assert chunk.model_dump()["choices"] == [] and type(chunk.model_dump()["choices"]) is list
    assert '"choices":[]' in chunk.model_dump_json()
    for copied in (pickle.loads(pickle.dumps(chunk)), copy.deepcopy(chunk), chunk.model_copy()):
        assert copied.choices == [] and copied.choices[0].delta.content is None
    # A chunk with choices keeps a plain list.
    normal = ModelResponseStream.from_dict({"id": "c", "created": 1, "choices": [{"index": 0, "delta": {}}]})
    assert type(normal.choices) is list and not isinstance(normal.choices, EmptyChoices)


def test_litellms_always_present_message_fields_read_none_and_dump_only_when_set():
    response = ModelResponse.from_dict({
        "id": "x", "created": 1, "model": "deepseek-reasoner",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": "4", "reasoning_content": "2+2"}}],
    })
    assert response.choices[0].message.reasoning_content == "2+2"
    plain = Message(content="hi")
    for name in ("reasoning_content", "thinking_blocks", "provider_specific_fields", "annotations", "audio"):
        assert getattr(plain, name) is None and getattr(Delta(), name) is None
    assert plain.model_dump() == {"role": "assistant", "content": "hi", "tool_calls": None, "function_call": None}
    plain.provider_specific_fields = {"citations": []}
    assert plain.model_dump()["provider_specific_fields"] == {"citations": []}
