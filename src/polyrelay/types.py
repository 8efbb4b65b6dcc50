"""Response objects in OpenAI's shapes.

They are pydantic models that also read as dicts (``response["usage"]``,
``chunk["choices"][0]["delta"]``), as LiteLLM's do, so code written against
either style keeps working. Unknown fields a provider sends are kept
(``extra="allow"``) rather than dropped: a provider-specific usage field such
as DeepSeek's ``prompt_cache_hit_tokens`` survives the round trip.

Objects are built from dicts we assembled ourselves with ``from_dict``,
which validates once; nothing re-validates them afterwards.
"""

from __future__ import annotations

import time
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, PrivateAttr


class OpenAIObject(BaseModel):
    """Base: attribute and dict access, extras kept, no copies on read."""

    model_config = ConfigDict(extra="allow", protected_namespaces=(), populate_by_name=True)

    def __getitem__(self, key: str) -> Any:
        try:
            return getattr(self, key)
        except AttributeError:
            raise KeyError(key) from None

    def __setitem__(self, key: str, value: Any) -> None:
        setattr(self, key, value)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and getattr(self, key, None) is not None

    def get(self, key: str, default: Any = None) -> Any:
        value = getattr(self, key, default)
        return default if value is None else value

    def keys(self):
        return self.model_dump().keys()

    def json(self, **kwargs: Any) -> dict[str, Any]:  # type: ignore[override]
        """LiteLLM's ``.json()`` returns a dict, not a string; so does ours."""
        return self.model_dump(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump()

    @classmethod
    def from_dict(cls, data: dict[str, Any]):
        return cls.model_validate(data)


class PromptTokensDetails(OpenAIObject):
    cached_tokens: int | None = None
    audio_tokens: int | None = None


class CompletionTokensDetails(OpenAIObject):
    reasoning_tokens: int | None = None
    audio_tokens: int | None = None
    accepted_prediction_tokens: int | None = None
    rejected_prediction_tokens: int | None = None


class Usage(OpenAIObject):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    prompt_tokens_details: PromptTokensDetails | None = None
    completion_tokens_details: CompletionTokensDetails | None = None

    @property
    def cached_tokens(self) -> int:
        details = self.prompt_tokens_details
        return (details.cached_tokens or 0) if details else 0


class FunctionCall(OpenAIObject):
    name: str | None = None
    arguments: str = ""


class ToolCall(OpenAIObject):
    id: str | None = None
    type: str = "function"
    function: FunctionCall


class Message(OpenAIObject):
    role: str = "assistant"
    content: str | None = None
    tool_calls: list[ToolCall] | None = None
    function_call: FunctionCall | None = None


class Choices(OpenAIObject):
    index: int = 0
    message: Message
    finish_reason: str | None = "stop"
    logprobs: Any = None


class _WithHidden(OpenAIObject):
    """Responses carry LiteLLM's ``_hidden_params`` (cost, api_base, ...)."""

    _hidden_params: dict[str, Any] = PrivateAttr(default_factory=dict)
    _response_ms: float | None = PrivateAttr(default=None)


class WireResponse(dict):
    """A finished response as the OpenAI wire dict, for callers that only
    serialise it (the gateway asks with ``polyrelay_wire=True``): building
    and dumping a pydantic model per request cost ~10% of the gateway's CPU.
    Carries ``_hidden_params`` and ``_response_ms`` like the models do."""

    _hidden_params: dict[str, Any]
    _response_ms: float | None


class ModelResponse(_WithHidden):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str | None = None
    choices: list[Choices]
    usage: Usage | None = None
    system_fingerprint: str | None = None


class ChoiceDeltaToolCallFunction(OpenAIObject):
    name: str | None = None
    arguments: str | None = None


class ChoiceDeltaToolCall(OpenAIObject):
    index: int = 0
    id: str | None = None
    type: str | None = None
    function: ChoiceDeltaToolCallFunction | None = None


class Delta(OpenAIObject):
    role: str | None = None
    content: str | None = None
    tool_calls: list[ChoiceDeltaToolCall] | None = None
    function_call: ChoiceDeltaToolCallFunction | None = None


class StreamingChoices(OpenAIObject):
    index: int = 0
    delta: Delta
    finish_reason: str | None = None
    logprobs: Any = None


class ModelResponseStream(_WithHidden):
    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str | None = None
    choices: list[StreamingChoices]
    usage: Usage | None = None
    system_fingerprint: str | None = None


class TextChoices(OpenAIObject):
    index: int = 0
    text: str = ""
    logprobs: Any = None
    finish_reason: str | None = None


class TextCompletionResponse(_WithHidden):
    id: str
    object: Literal["text_completion"] = "text_completion"
    created: int
    model: str | None = None
    choices: list[TextChoices]
    usage: Usage | None = None
    system_fingerprint: str | None = None


class Embedding(OpenAIObject):
    object: Literal["embedding"] = "embedding"
    index: int = 0
    embedding: list[float] | str


class EmbeddingResponse(_WithHidden):
    object: Literal["list"] = "list"
    data: list[Embedding]
    model: str | None = None
    usage: Usage | None = None


class ModerationResult(OpenAIObject):
    flagged: bool = False
    categories: dict[str, bool]
    category_scores: dict[str, float]


class ModerationResponse(_WithHidden):
    id: str
    model: str | None = None
    results: list[ModerationResult]


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:24]}"


def now() -> int:
    return int(time.time())
