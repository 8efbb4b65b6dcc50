"""Custom providers: a ``CustomLLM`` subclass registered in
``custom_provider_map`` (LiteLLM's docs example and the ways users vary it)."""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator, Iterator

import pytest

import polyrelay as litellm
from polyrelay import CustomLLM, completion
from polyrelay.types import ModelResponse

HI = [{"role": "user", "content": "Hello world"}]


class MyCustomLLM(CustomLLM):
    def completion(self, *args, **kwargs) -> ModelResponse:
        return litellm.completion(model="gpt-3.5-turbo", messages=[{"role": "user", "content": "Hello world"}],
                                  mock_response="Hi!")

    async def acompletion(self, *args, **kwargs) -> ModelResponse:
        return litellm.completion(model="gpt-3.5-turbo", messages=[{"role": "user", "content": "Hello world"}],
                                  mock_response="Hi!")

    def streaming(self, *args, **kwargs) -> Iterator[litellm.GenericStreamingChunk]:
        yield {"finish_reason": "stop", "index": 0, "is_finished": True, "text": "Hello world", "tool_use": None,
               "usage": {"completion_tokens": 10, "prompt_tokens": 20, "total_tokens": 30}}

    async def astreaming(self, *args, **kwargs) -> AsyncIterator[litellm.GenericStreamingChunk]:
        for word in ("Hello ", "async ", "world"):
            yield {"finish_reason": None, "index": 0, "is_finished": False, "text": word, "tool_use": None,
                   "usage": None}
        yield {"finish_reason": "stop", "index": 0, "is_finished": True, "text": "", "tool_use": None,
               "usage": {"completion_tokens": 3, "prompt_tokens": 5, "total_tokens": 8}}


@pytest.fixture(autouse=True)
def registered(monkeypatch):
    monkeypatch.setattr(litellm, "custom_provider_map",
                        [{"provider": "my-custom-llm", "custom_handler": MyCustomLLM()}])


def test_the_docs_example():
    resp = completion(model="my-custom-llm/my-fake-model", messages=HI)
    assert resp.choices[0].message.content == "Hi!"
    assert resp._hidden_params["custom_llm_provider"] == "my-custom-llm"


def test_async_and_both_kinds_of_streaming():
    resp = asyncio.run(litellm.acompletion(model="my-custom-llm/my-fake-model", messages=HI))
    assert resp.choices[0].message.content == "Hi!"
    chunks = list(completion(model="my-custom-llm/x", messages=HI, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello world"

    async def astream():
        stream = await litellm.acompletion(model="my-custom-llm/x", messages=HI, stream=True,
                                           stream_options={"include_usage": True})
        return [chunk async for chunk in stream]

    chunks = asyncio.run(astream())
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello async world"
    assert chunks[-1].usage.total_tokens == 8  # the handler's own usage, not an estimate


def test_handler_gets_litellms_arguments_and_fills_model_response(monkeypatch):
    seen: dict[str, Any] = {}

    class Filling(CustomLLM):
        def completion(self, model, messages, api_base, custom_prompt_dict, model_response, print_verbose, encoding,
                       api_key, logging_obj, optional_params, acompletion=None, litellm_params=None, logger_fn=None,
                       headers={}, timeout=None, client=None):
            seen.update(model=model, messages=messages, optional_params=optional_params, api_key=api_key)
            model_response.choices[0].message.content = f"echo: {messages[-1]['content']}"
            return model_response

    monkeypatch.setattr(litellm, "custom_provider_map", [{"provider": "filling", "custom_handler": Filling()}])
    resp = completion(model="filling/echo-1", messages=HI, temperature=0.2, max_tokens=5, api_key="sk-mine")
    assert resp.choices[0].message.content == "echo: Hello world"
    assert seen["model"] == "echo-1" and seen["api_key"] == "sk-mine"
    assert seen["optional_params"] == {"temperature": 0.2, "max_tokens": 5}


def test_embedding_handler(monkeypatch):
    class Embedder(CustomLLM):
        def embedding(self, model, input, model_response, print_verbose, logging_obj, optional_params,
                      litellm_params=None, aembedding=None):
            return {"object": "list", "model": model,
                    "data": [{"object": "embedding", "index": i, "embedding": [float(len(t)), 0.0]}
                             for i, t in enumerate(input)]}

    monkeypatch.setattr(litellm, "custom_provider_map", [{"provider": "emb", "custom_handler": Embedder()}])
    resp = litellm.embedding(model="emb/tiny", input=["ab", "abcd"])
    assert [d.embedding[0] for d in resp.data] == [2.0, 4.0]


def test_errors_map_to_polyrelay_errors_and_the_router_falls_back(monkeypatch):
    class Overloaded(CustomLLM):
        async def acompletion(self, *args, **kwargs):
            raise litellm.CustomLLMError(status_code=429, message="too many requests")

    class Unfinished(CustomLLM):
        pass  # serves nothing: LiteLLM's "Not implemented yet!"

    monkeypatch.setattr(litellm, "custom_provider_map", [
        {"provider": "overloaded", "custom_handler": Overloaded()},
        {"provider": "unfinished", "custom_handler": Unfinished()},
        {"provider": "my-custom-llm", "custom_handler": MyCustomLLM()}])
    with pytest.raises(litellm.RateLimitError, match="too many requests"):
        completion(model="overloaded/x", messages=HI)
    with pytest.raises(litellm.InternalServerError, match="Not implemented yet"):
        completion(model="unfinished/x", messages=HI)
    router = litellm.Router(model_list=[
        {"model_name": "primary", "litellm_params": {"model": "overloaded/x"}},
        {"model_name": "backup", "litellm_params": {"model": "my-custom-llm/x"}}],
        fallbacks=[{"primary": ["backup"]}], num_retries=0)
    assert router.completion(model="primary", messages=HI).choices[0].message.content == "Hi!"


def test_an_unregistered_prefix_is_still_an_error():
    with pytest.raises(litellm.BadRequestError):
        completion(model="not-registered/x", messages=HI)
