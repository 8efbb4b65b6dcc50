"""Images, rerank and audio (SPEC 9): LiteLLM's ``image_generation``, ``rerank``,
``transcription`` and ``speech``,
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
from .audio import AudioFile
from .core import IMAGE, RERANK, SPEECH, TRANSCRIPTION, execute
from .types import ImageObject, ImageResponse, RerankResponse, RerankResult, SpeechResponse, TranscriptionResponse

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


async def atranscription(model: str, file: Any = None, **kwargs: Any) -> TranscriptionResponse:
    """Speech to text: ``file`` is an open binary file, bytes, a path or a ``(name, bytes)`` tuple."""
    if file is None:
        raise BadRequestError("file is required", param="file", model=model)
    return await execute(TRANSCRIPTION, model, {"file": AudioFile(file)}, kwargs)


def transcription(model: str, file: Any = None, **kwargs: Any) -> TranscriptionResponse:
    return _sync.run(atranscription(model, file, **kwargs))


async def aspeech(model: str, input: str | None = None, voice: str | None = None, **kwargs: Any) -> SpeechResponse:
    """Text to speech: the audio as it arrives (``async for piece in response.aiter_bytes()``)."""
    return await execute(SPEECH, model, {"input": input, "voice": voice}, kwargs)


async def _speech_read(model: str, input: str | None, voice: str | None, kwargs: dict[str, Any]) -> SpeechResponse:
    response = await aspeech(model, input, voice, **kwargs)
    await response.aread()
    return response


def speech(model: str, input: str | None = None, voice: str | None = None, **kwargs: Any) -> SpeechResponse:
    """Text to speech, read whole: ``response.content``, ``response.stream_to_file(path)``."""
    return _sync.run(_speech_read(model, input, voice, kwargs))


__all__ = ["ImageObject", "ImageResponse", "RerankResponse", "RerankResult", "aimage_generation", "arerank",
           "image_generation", "rerank", "SpeechResponse", "TranscriptionResponse", "aspeech", "atranscription", "speech",
           "transcription"]
