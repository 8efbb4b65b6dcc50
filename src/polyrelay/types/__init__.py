"""Response objects in OpenAI's shapes.

They are pydantic models that also read as dicts (``response["usage"]``,
``chunk["choices"][0]["delta"]``), as LiteLLM's do, so code written against
either style keeps working. Unknown fields a provider sends are kept
(``extra="allow"``) rather than dropped: a provider-specific usage field such
as DeepSeek's ``prompt_cache_hit_tokens`` survives the round trip.

Objects are built from dicts we assembled ourselves with ``from_dict``,
which validates once; nothing re-validates them afterwards.

Users build them too, as LiteLLM lets them (their own tests, mocks,
callbacks): ``ModelResponse()`` with no arguments, ``Usage(1, 2)``,
``Message("hi")``, ``ModelResponse(**chunk, stream=True)``. That leniency
lives in ``__init__`` only, which ``from_dict`` (``model_validate``) never
calls, so the objects polyrelay builds pay nothing for it.

``polyrelay.types.utils`` re-exports these under LiteLLM's module path and
names (``from litellm.types.utils import ModelResponse, Usage, ...``).
"""

from __future__ import annotations

import time
import uuid
from typing import Any, ClassVar, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, model_validator


class OpenAIObject(BaseModel):
    """Base: attribute and dict access, extras kept, no copies on read."""

    model_config = ConfigDict(extra="allow", protected_namespaces=(), populate_by_name=True)
    # Field names LiteLLM's constructors take positionally, in its order (``Usage(1, 2)``).
    _positional: ClassVar[tuple[str, ...]] = ()

    # The lenient ``__init__`` overrides below are for callers only. Each is
    # marked as pydantic's own, so validation (``from_dict``, and every nested
    # object) keeps pydantic's compiled path instead of calling back into
    # Python for each object: that would double the SDK's cost per response.

    def __init__(self, /, *args: Any, **data: Any) -> None:
        super().__init__(**self._named(args, data))

    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]

    @classmethod
    def _named(cls, args: tuple[Any, ...], data: dict[str, Any]) -> dict[str, Any]:
        """``data`` with the positional ``args`` put under their field names."""
        if len(args) > len(cls._positional):
            raise TypeError(f"{cls.__name__}() takes at most {len(cls._positional)} positional "
                            f"arguments ({len(args)} given)")
        for name, value in zip(cls._positional, args):
            if name in data:
                raise TypeError(f"{cls.__name__}() got multiple values for argument {name!r}")
            data[name] = value
        return data

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


def extra_field(name: str, doc: str) -> property:
    """A field read as None when absent and dumped only when set: kept among
    the object's extra fields rather than declared. For the fields LiteLLM's
    objects always answer (``message.reasoning_content``) that OpenAI's wire
    shape does not carry: declared, they would appear as nulls in every dump."""

    def read(self: OpenAIObject) -> Any:
        return (self.__pydantic_extra__ or {}).get(name)

    def write(self: OpenAIObject, value: Any) -> None:
        if self.__pydantic_extra__ is None:
            self.__pydantic_extra__ = {}
        self.__pydantic_extra__[name] = value

    return property(read, write, doc=doc)


class PromptTokensDetails(OpenAIObject):
    cached_tokens: int | None = None
    audio_tokens: int | None = None

    cache_creation_tokens = extra_field(
        "cache_creation_tokens", "Tokens written to the provider's prompt cache (Anthropic's "
        "cache_creation_input_tokens), under LiteLLM's name; dumped only when a provider or caller set it.")


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
    _positional = ("prompt_tokens", "completion_tokens", "total_tokens")

    def __init__(self, /, *args: Any, reasoning_tokens: int | None = None, **data: Any) -> None:
        data = self._named(args, data)
        for name in ("prompt_tokens", "completion_tokens", "total_tokens"):
            if name in data and data[name] is None:
                del data[name]  # LiteLLM callers pass None for "not known"
        # The provider spellings LiteLLM's Usage also takes, mapped to OpenAI's fields.
        cached = data.get("cache_read_input_tokens", data.get("prompt_cache_hit_tokens"))
        written = data.get("cache_creation_input_tokens")
        if cached is not None or written is not None:
            details = data.get("prompt_tokens_details") or {}
            details = details.model_dump() if isinstance(details, BaseModel) else dict(details)
            if cached is not None and details.get("cached_tokens") is None:
                details["cached_tokens"] = cached
            if written is not None and details.get("cache_creation_tokens") is None:
                details["cache_creation_tokens"] = written
            data["prompt_tokens_details"] = details
        if reasoning_tokens is not None:
            completion_details = data.get("completion_tokens_details") or {}
            if isinstance(completion_details, dict):
                completion_details = {"reasoning_tokens": reasoning_tokens, **completion_details}
            data["completion_tokens_details"] = completion_details
        super().__init__(**data)

    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]  # validation skips it: see OpenAIObject

    @model_validator(mode="after")
    def _fill_derived(self) -> "Usage":
        # total = prompt + completion (SPEC 2), also when a caller gave only the parts.
        if not self.total_tokens and (self.prompt_tokens or self.completion_tokens):
            self.total_tokens = self.prompt_tokens + self.completion_tokens
        # Anthropic's cache writes, also under LiteLLM's name in the details.
        written = self.__pydantic_extra__.get("cache_creation_input_tokens") if self.__pydantic_extra__ else None
        details = self.prompt_tokens_details
        if written is not None and details is not None and details.cache_creation_tokens is None:
            details.cache_creation_tokens = written
        return self

    @property
    def cached_tokens(self) -> int:
        details = self.prompt_tokens_details
        return (details.cached_tokens or 0) if details else 0


class FunctionCall(OpenAIObject):
    name: str | None = None
    arguments: str = ""
    _positional = ("arguments", "name")

    @model_validator(mode="before")
    @classmethod
    def _arguments_as_json(cls, data: Any) -> Any:
        # Arguments given as a dict (LiteLLM takes those) become the JSON string OpenAI sends.
        if isinstance(data, dict) and not isinstance(data.get("arguments", ""), str):
            data = {**data, "arguments": orjson.dumps(data["arguments"]).decode()}
        return data


class ToolCall(OpenAIObject):
    id: str | None = None
    type: str = "function"
    function: FunctionCall
    _positional = ("function", "id", "type")

    def __init__(self, /, *args: Any, **data: Any) -> None:
        super().__init__(*args, **data)
        if self.id is None:
            self.id = f"call_{uuid.uuid4().hex[:24]}"  # LiteLLM gives every tool call an id; replies must name it

    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]  # validation skips it: see OpenAIObject


class Message(OpenAIObject):
    role: str = "assistant"
    content: str | None = None
    tool_calls: list[ToolCall] | None = None
    function_call: FunctionCall | None = None
    _positional = ("content", "role", "function_call", "tool_calls")
    # Fields LiteLLM's objects always answer (None when the provider sent none).
    reasoning_content = extra_field("reasoning_content", "The model's reasoning text (DeepSeek-R1, Claude thinking).")
    thinking_blocks = extra_field("thinking_blocks", "Anthropic's thinking blocks, as LiteLLM passes them on.")
    provider_specific_fields = extra_field("provider_specific_fields", "Fields only this provider sends.")
    annotations = extra_field("annotations", "URL citations (OpenAI web search).")
    audio = extra_field("audio", "Audio output (OpenAI audio models).")

    def __init__(self, /, *args: Any, **data: Any) -> None:
        data = self._named(args, data)
        if "role" in data and data["role"] is None:
            del data["role"]
        if data.get("tool_calls") == []:
            data["tool_calls"] = None  # LiteLLM's Message keeps no empty tool_calls list
        super().__init__(**data)

    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]  # validation skips it: see OpenAIObject


class Choices(OpenAIObject):
    index: int = 0
    message: Message = Field(default_factory=Message)
    finish_reason: str | None = "stop"
    logprobs: Any = None
    _positional = ("finish_reason", "index", "message", "logprobs")

    def __init__(self, /, *args: Any, **data: Any) -> None:
        data = self._named(args, data)
        # As LiteLLM's Choices: None means the default, and finish_reason's is "stop".
        for name in ("index", "message", "finish_reason"):
            if name in data and data[name] is None:
                del data[name]
        super().__init__(**data)

    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]  # validation skips it: see OpenAIObject


# The private values of a response and their defaults, made on first use.
_PRIVATE_DEFAULTS = {"_hidden_params": dict, "_response_ms": lambda: None}


def _private(name: str) -> property:
    """A private value kept where pydantic keeps them (``__pydantic_private__``: copied,
    pickled and compared with the object), made on first use. Declared with ``PrivateAttr``
    instead, pydantic fills them in Python after every validation: 2.6 of the 7 us a
    ModelResponse costs to validate, paid by every call whether anything reads them or not."""

    def values(self: OpenAIObject) -> dict[str, Any]:
        private = self.__pydantic_private__
        if private is None:
            private = {}
            object.__setattr__(self, "__pydantic_private__", private)
        return private

    def read(self: OpenAIObject) -> Any:
        private = values(self)
        if name not in private:
            private[name] = _PRIVATE_DEFAULTS[name]()
        return private[name]

    def write(self: OpenAIObject, value: Any) -> None:
        values(self)[name] = value

    return property(read, write)


class _WithHidden(OpenAIObject):
    """Responses carry LiteLLM's ``_hidden_params`` (cost, api_base, ...)."""

    _hidden_params = _private("_hidden_params")
    _response_ms = _private("_response_ms")
    # Fields LiteLLM's constructors default when given None (ModelResponse(id=None, usage=None, ...)).
    _none_means_default: ClassVar[frozenset[str]] = frozenset({"id", "created", "choices", "object", "data"})

    def __init__(self, /, *args: Any, **data: Any) -> None:
        # LiteLLM's constructor arguments that are not response fields.
        hidden = data.pop("hidden_params", None)
        response_ms = data.pop("response_ms", None)
        for name in ("stream", "stream_options", "_response_headers"):
            data.pop(name, None)
        for name in self._none_means_default & data.keys():
            if data[name] is None:
                del data[name]
        super().__init__(*args, **data)
        if hidden:
            self._hidden_params = dict(hidden)
        if response_ms is not None:
            self._response_ms = response_ms

    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]  # validation skips it: see OpenAIObject

    def __eq__(self, other: object) -> bool:
        # Equal as with PrivateAttr: an object whose private values were never read
        # compares with their defaults, not with "none made yet".
        for obj in (self, other):
            if isinstance(obj, _WithHidden) and (obj.__pydantic_private__ or {}).keys() != _PRIVATE_DEFAULTS.keys():
                for name in _PRIVATE_DEFAULTS:
                    getattr(obj, name)
        return super().__eq__(other)


class WireResponse(dict):
    """A finished response as the OpenAI wire dict, for callers that only
    serialise it (the gateway asks with ``polyrelay_wire=True``): building
    and dumping a pydantic model per request cost ~10% of the gateway's CPU.
    Carries ``_hidden_params`` and ``_response_ms`` like the models do."""

    _hidden_params: dict[str, Any]
    _response_ms: float | None


class EmptyChoices(list):
    """The ``choices`` of a usage-only stream chunk: empty (``== []``, length 0,
    iterates nothing, dumps as ``[]``), and yet ``choices[0]`` answers a choice
    with nothing in it. OpenAI's and LiteLLM's docs both loop over a stream
    with ``print(chunk.choices[0].delta)``, and with ``include_usage`` the last
    chunk has no choices; this keeps that loop running (SPEC 2, Streaming).
    Only the SDK's objects hold one: the gateway relays plain dicts."""

    __slots__ = ("_make",)

    def __init__(self, make: Any) -> None:
        super().__init__()
        self._make = make  # builds the stand-in choice: StreamingChoices or TextChoices

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, int) and index in (0, -1):
            return self._make()
        return super().__getitem__(index)

    def __reduce__(self):
        return (EmptyChoices, (self._make,))

    def __copy__(self) -> "EmptyChoices":
        return EmptyChoices(self._make)

    def __deepcopy__(self, memo: dict[int, Any]) -> "EmptyChoices":
        return EmptyChoices(self._make)


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
    _positional = ("content", "role", "function_call", "tool_calls")
    # Fields LiteLLM's objects always answer (None when the provider sent none).
    reasoning_content = extra_field("reasoning_content", "The model's reasoning text (DeepSeek-R1, Claude thinking).")
    thinking_blocks = extra_field("thinking_blocks", "Anthropic's thinking blocks, as LiteLLM passes them on.")
    provider_specific_fields = extra_field("provider_specific_fields", "Fields only this provider sends.")
    annotations = extra_field("annotations", "URL citations (OpenAI web search).")
    audio = extra_field("audio", "Audio output (OpenAI audio models).")


class StreamingChoices(OpenAIObject):
    index: int = 0
    delta: Delta = Field(default_factory=Delta)
    finish_reason: str | None = None
    logprobs: Any = None
    _positional = ("finish_reason", "index", "delta", "logprobs")


def _empty_stream_choice() -> StreamingChoices:
    return StreamingChoices(index=0, delta=Delta())


class ModelResponseStream(_WithHidden):
    id: str = Field(default_factory=lambda: new_id("chatcmpl"))
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int = Field(default_factory=lambda: now())
    model: str | None = None
    choices: list[StreamingChoices] = Field(default_factory=lambda: [StreamingChoices()])
    usage: Usage | None = None
    system_fingerprint: str | None = None

    def __init__(self, /, *args: Any, **data: Any) -> None:
        super().__init__(*args, **data)
        if not self.choices:
            self.choices = EmptyChoices(_empty_stream_choice)

    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]  # validation skips it: see OpenAIObject

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ModelResponseStream":
        chunk = cls.model_validate(data)
        if not chunk.choices:  # the usage chunk (set here, not in a validator every chunk would pay for)
            chunk.choices = EmptyChoices(_empty_stream_choice)
        return chunk


class ModelResponse(_WithHidden):
    id: str = Field(default_factory=lambda: new_id("chatcmpl"))
    object: Literal["chat.completion"] = "chat.completion"
    created: int = Field(default_factory=lambda: now())
    model: str | None = None
    choices: list[Choices] = Field(default_factory=lambda: [Choices()])
    usage: Usage | None = Field(default_factory=lambda: Usage())
    system_fingerprint: str | None = None

    def __new__(cls, *args: Any, **data: Any) -> Any:
        # LiteLLM builds stream chunks as ModelResponse(**chunk, stream=True);
        # here a chunk is its own class, so that call answers one.
        if cls is ModelResponse and (data.get("stream") or data.get("object") == "chat.completion.chunk"):
            return ModelResponseStream(*args, **data)
        return super().__new__(cls)

    def __init__(self, /, *args: Any, **data: Any) -> None:
        if "usage" in data and data["usage"] is None:
            del data["usage"]  # LiteLLM's ModelResponse(usage=None) has an all-zero Usage
        super().__init__(*args, **data)

    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]  # validation skips it: see OpenAIObject


class TextChoices(OpenAIObject):
    index: int = 0
    text: str = ""
    logprobs: Any = None
    finish_reason: str | None = None
    _positional = ("finish_reason", "index", "text", "logprobs")


class TextCompletionResponse(_WithHidden):
    id: str = Field(default_factory=lambda: new_id("cmpl"))
    object: Literal["text_completion"] = "text_completion"
    created: int = Field(default_factory=lambda: now())
    model: str | None = None
    choices: list[TextChoices] = Field(default_factory=lambda: [TextChoices()])
    usage: Usage | None = None
    system_fingerprint: str | None = None

    # A text-completion stream's usage chunk has no choices either.
    def __init__(self, /, *args: Any, **data: Any) -> None:
        super().__init__(*args, **data)
        if not self.choices:
            self.choices = EmptyChoices(TextChoices)

    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]  # validation skips it: see OpenAIObject

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TextCompletionResponse":
        response = cls.model_validate(data)
        if not response.choices:
            response.choices = EmptyChoices(TextChoices)
        return response


class Embedding(OpenAIObject):
    object: Literal["embedding"] = "embedding"
    index: int = 0
    embedding: list[float] | str = Field(default_factory=list)


class EmbeddingResponse(_WithHidden):
    object: Literal["list"] = "list"
    data: list[Embedding] = Field(default_factory=list)
    model: str | None = None
    usage: Usage | None = None


class ModerationResult(OpenAIObject):
    flagged: bool = False
    categories: dict[str, bool] = Field(default_factory=dict)
    category_scores: dict[str, float] = Field(default_factory=dict)


class ModerationResponse(_WithHidden):
    id: str = Field(default_factory=lambda: new_id("modr"))
    model: str | None = None
    results: list[ModerationResult] = Field(default_factory=list)


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:24]}"


def now() -> int:
    return int(time.time())
