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


class TranscriptionResponse(_WithHidden):
    """OpenAI's transcription answer: ``text``, and with verbose_json ``language``,
    ``duration``, ``segments``, ``words`` (kept as extra fields)."""

    text: str = ""


class SpeechResponse:
    """Speech audio, as the openai SDK's binary response reads: ``content``,
    ``iter_bytes()`` / ``aiter_bytes()``, ``write_to_file()`` / ``stream_to_file()``.
    From ``aspeech`` the bytes arrive as the provider sends them (read them once);
    ``speech`` (sync) has them all in ``content``."""

    def __init__(self, chunks: Any, content_type: str, hidden: dict[str, Any]) -> None:
        self._chunks = chunks
        self._content: bytes | None = None
        self.content_type = content_type
        self._hidden_params = hidden
        self._response_ms: float | None = hidden.get("_response_ms")

    def get(self, key: str, default: Any = None) -> Any:  # the Router reads usage this way; speech has none
        return default

    async def aiter_bytes(self):
        if self._content is not None:
            yield self._content
            return
        async for chunk in self._chunks:
            for piece in chunk if isinstance(chunk, list) else (chunk,):  # local (mock/) answers come in lists
                if piece:
                    yield piece

    async def aread(self) -> bytes:
        if self._content is None:
            self._content = b"".join([piece async for piece in self.aiter_bytes()])
        return self._content

    async def aclose(self) -> None:
        close = getattr(self._chunks, "aclose", None)
        if close is not None:
            await close()

    @property
    def content(self) -> bytes:
        if self._content is None:
            raise RuntimeError("read the audio first: await response.aread() (the sync speech() reads it for you)")
        return self._content

    def iter_bytes(self, chunk_size: int = 64 * 1024):
        data = self.content
        for at in range(0, len(data), chunk_size):
            yield data[at:at + chunk_size]

    def write_to_file(self, file: Any) -> None:
        from pathlib import Path

        Path(file).write_bytes(self.content)

    stream_to_file = write_to_file


class Record(dict):
    """A provider's file or batch object as it came: a dict that also reads
    by attribute (``batch.status``, ``batch.request_counts.completed``), as
    the openai SDK's ``FileObject`` and ``Batch`` do. Unknown fields stay."""

    def __getattr__(self, name: str) -> Any:
        try:
            value = self[name]
        except KeyError:
            if name.startswith("_"):
                raise AttributeError(name) from None
            return None  # an optional field the provider left out, as the openai models read it
        return Record(value) if isinstance(value, dict) and not isinstance(value, Record) else value

    def model_dump(self, **_: Any) -> dict[str, Any]:
        return dict(self)
