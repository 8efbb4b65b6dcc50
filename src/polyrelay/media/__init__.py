"""Images and rerank (SPEC 9): LiteLLM's ``image_generation`` and ``rerank``,
async first, through the same retries, Router and gateway as chat.

``polyrelay.image_generation(prompt="a red fox", model="openai/dall-e-3")``
answers an ``ImageResponse`` (``data[i].url`` / ``b64_json``);
``polyrelay.rerank(model="cohere/rerank-v3.5", query=..., documents=[...])``
answers a ``RerankResponse`` (``results[i].index``, ``relevance_score``).
Both carry ``_hidden_params["response_cost"]``.
"""

from __future__ import annotations

from typing import Any

from .. import _sync
from ..errors import BadRequestError
from .core import IMAGE, RERANK, execute
from .types import ImageObject, ImageResponse, RerankResponse, RerankResult

DEFAULT_IMAGE_MODEL = "openai/dall-e-2"  # LiteLLM's default when no model is named


async def aimage_generation(prompt: str | None = None, model: str | None = None, **kwargs: Any) -> ImageResponse:
    if not isinstance(prompt, str) or not prompt:
        raise BadRequestError("prompt is required (a non-empty string)", param="prompt")
    return await execute(IMAGE, model or DEFAULT_IMAGE_MODEL, {"prompt": prompt}, kwargs)


def image_generation(prompt: str | None = None, model: str | None = None, **kwargs: Any) -> ImageResponse:
    return _sync.run(aimage_generation(prompt, model, **kwargs))


async def arerank(model: str, query: str | None = None, documents: list[Any] | None = None,
                  return_documents: bool | None = True, **kwargs: Any) -> RerankResponse:
    if not isinstance(query, str) or not query:
        raise BadRequestError("query is required (a non-empty string)", param="query", model=model)
    return await execute(RERANK, model, {"query": query, "documents": documents,
                                         "return_documents": return_documents}, kwargs)


def rerank(model: str, query: str | None = None, documents: list[Any] | None = None,
           return_documents: bool | None = True, **kwargs: Any) -> RerankResponse:
    return _sync.run(arerank(model, query, documents, return_documents, **kwargs))


__all__ = ["ImageObject", "ImageResponse", "RerankResponse", "RerankResult", "aimage_generation", "arerank",
           "image_generation", "rerank"]
