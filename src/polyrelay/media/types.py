"""Response objects for images and rerank: typed, and readable as dicts
like every other polyrelay response (``response.data[0].b64_json ==
response["data"][0]["b64_json"]``), with ``_hidden_params`` for the cost."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from ..types import OpenAIObject, _WithHidden, new_id, now


class ImageObject(OpenAIObject):
    b64_json: str | None = None
    url: str | None = None
    revised_prompt: str | None = None


class ImageResponse(_WithHidden):
    """OpenAI's images answer: ``created``, ``data[i].url`` or ``data[i].b64_json``."""

    created: int = Field(default_factory=now)
    data: list[ImageObject] = Field(default_factory=list)
    usage: dict[str, Any] | None = None


class RerankResult(OpenAIObject):
    index: int
    relevance_score: float
    document: dict[str, Any] | None = None


class RerankResponse(_WithHidden):
    """Cohere's rerank answer (what LiteLLM returns for every provider)."""

    id: str = Field(default_factory=lambda: new_id("rerank"))
    results: list[RerankResult] = Field(default_factory=list)
    meta: dict[str, Any] = Field(default_factory=dict)
