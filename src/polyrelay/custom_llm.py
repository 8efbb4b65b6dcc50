"""Custom providers, as LiteLLM users write them: subclass ``CustomLLM``,
implement the calls you serve, register the object, call it by name::

    class MyLLM(polyrelay.CustomLLM):
        def completion(self, *args, **kwargs) -> polyrelay.ModelResponse:
            return polyrelay.completion(model="mock/x", messages=kwargs["messages"], mock_response="Hi!")

    polyrelay.custom_provider_map = [{"provider": "my-llm", "custom_handler": MyLLM()}]
    polyrelay.completion(model="my-llm/any-name", messages=[...])

The methods take LiteLLM's keyword arguments (``model``, ``messages``,
``optional_params``, ``model_response``, ``api_key``, ``api_base``...);
a method that does not accept one is simply not given it. Answers go
through the same pipeline as any provider's (usage, cost, streaming, the
Router's retries and fallbacks): see providers/custom.py.
"""

from __future__ import annotations

from typing import Any, AsyncIterator, Iterator, TypedDict


class CustomLLMError(Exception):
    """Raise this from a handler to answer with an HTTP status (429 is a
    rate limit the Router retries, 401 an authentication error...)."""

    def __init__(self, status_code: int, message: str) -> None:
        self.status_code = status_code
        self.message = message
        super().__init__(message)


class GenericStreamingChunk(TypedDict, total=False):
    """What ``streaming``/``astreaming`` yield (or an OpenAI chunk dict)."""

    text: str
    tool_use: dict[str, Any] | None
    is_finished: bool
    finish_reason: str | None
    usage: dict[str, int] | None
    index: int


def _not_implemented() -> CustomLLMError:
    return CustomLLMError(status_code=500, message="Not implemented yet!")


class CustomLLM:
    """Base class of custom handlers. Override what you serve; the rest
    answers 500 "Not implemented yet!" as in LiteLLM. An async method is
    used when you override it; otherwise the sync one runs in a worker
    thread (so it may call ``polyrelay.completion`` itself)."""

    def completion(self, *args: Any, **kwargs: Any) -> Any:
        raise _not_implemented()

    async def acompletion(self, *args: Any, **kwargs: Any) -> Any:
        raise _not_implemented()

    def streaming(self, *args: Any, **kwargs: Any) -> Iterator[GenericStreamingChunk]:
        raise _not_implemented()

    async def astreaming(self, *args: Any, **kwargs: Any) -> AsyncIterator[GenericStreamingChunk]:
        raise _not_implemented()

    def embedding(self, *args: Any, **kwargs: Any) -> Any:
        raise _not_implemented()

    async def aembedding(self, *args: Any, **kwargs: Any) -> Any:
        raise _not_implemented()
