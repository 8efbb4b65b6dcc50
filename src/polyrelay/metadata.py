"""What a model is and can do, read from the catalogue, under LiteLLM's names.

``model_cost`` is the whole catalogue as LiteLLM's dict: keys spelt as
LiteLLM spells them (``gpt-4o``, ``azure/gpt-4o``, ``gemini/gemini-2.5-pro``;
see ``catalog.litellm_key``) and LiteLLM's field names
(``input_cost_per_token``, ``max_input_tokens``, ``litellm_provider``,
``mode``, ``supports_vision``, ...). It is one dict for the life of the
process, refilled whenever the catalogue changes (``register_model``, a
reload), so ``from polyrelay import model_cost`` stays current. Writing to
it registers the model, as ``register_model`` would.

The ``supports_*`` answers are the catalogue's flags. A flag the catalogue
does not carry is not known, and reads as False (as in LiteLLM); so does a
model it does not list. Nothing here runs on a request's path.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from . import tokens as _tokens
from .catalog import CATALOG, PROVIDER_ALIASES, litellm_key
from .cost import _is_mock, _require, MOCK_PROVIDER, PRICE_FIELDS, register_model
from .errors import PolyrelayError

logger = logging.getLogger("polyrelay")

# Keys every get_model_info() answer has, None when the catalogue does not say.
INFO_FIELDS = (
    "litellm_provider", "mode", "max_tokens", "max_input_tokens", "max_output_tokens",
    "input_cost_per_token", "output_cost_per_token", "cache_read_input_token_cost",
    "cache_creation_input_token_cost", "input_cost_per_request", "deprecation_date", "tpm", "rpm",
)
# The capability flags LiteLLM's get_model_info reports (None when unknown).
SUPPORTS_FLAGS = (
    "supports_system_messages", "supports_response_schema", "supports_vision", "supports_function_calling",
    "supports_parallel_function_calling", "supports_tool_choice", "supports_assistant_prefill",
    "supports_prompt_caching", "supports_audio_input", "supports_audio_output", "supports_video_input",
    "supports_pdf_input", "supports_embedding_image_input", "supports_native_streaming", "supports_web_search",
    "supports_url_context", "supports_reasoning", "supports_computer_use",
)
# get_supported_openai_params' request types, LiteLLM's spelling -> ours.
_REQUEST_KINDS = {"chat_completion": "chat", "chat": "chat", "completion": "text", "text_completion": "text",
                  "embeddings": "embedding", "embedding": "embedding"}
# Arguments every chat call takes besides the provider's parameters.
_STREAM_PARAMS = ("stream", "stream_options")


# ------------------------------------------------------------------ get_model_info
def get_model_info(model: str, custom_llm_provider: str | None = None) -> dict[str, Any]:
    """LiteLLM's ``get_model_info``: provider, mode, context window, output
    limit, prices per token, ``supports_*`` flags, ``supported_openai_params``,
    rpm/tpm where published, and ``key`` (the model's key in ``model_cost``).

    Raises ``NotFoundError`` for a model the catalogue does not list.
    """
    if _is_mock(model, custom_llm_provider):
        entry: dict[str, Any] = {"litellm_provider": MOCK_PROVIDER, "mode": "chat",
                                 **{field: 0.0 for field in PRICE_FIELDS}}
        key = model if model.startswith(MOCK_PROVIDER + "/") else f"{MOCK_PROVIDER}/{model}"
    else:
        key, entry = _require(model, custom_llm_provider)
    info = {field: entry.get(field) for field in (*INFO_FIELDS, *SUPPORTS_FLAGS)}
    info.update(entry)
    info["key"] = litellm_key(key)
    provider = info.get("litellm_provider") or key.partition("/")[0]
    info["provider"] = provider
    info["supported_openai_params"] = get_supported_openai_params(
        model, PROVIDER_ALIASES.get(provider, provider), request_type=_mode_request_type(info.get("mode")))
    return info


def _mode_request_type(mode: str | None) -> str:
    return {"embedding": "embeddings", "completion": "completion"}.get(mode or "", "chat_completion")


def _info_or_none(model: str, custom_llm_provider: str | None) -> dict[str, Any] | None:
    try:
        return get_model_info(model, custom_llm_provider)
    except PolyrelayError as exc:  # an unknown model, or a name no provider claims: "not known" is the answer
        logger.debug("polyrelay: no catalogue entry for %s (%s)", model, exc.message)
        return None


def _supports(flag: str, model: str, custom_llm_provider: str | None) -> bool:
    info = _info_or_none(model, custom_llm_provider)
    return bool(info and info.get(flag) is True)


def supports_function_calling(model: str, custom_llm_provider: str | None = None) -> bool:
    """Whether the model takes ``tools`` (OpenAI function calling)."""
    return _supports("supports_function_calling", model, custom_llm_provider)


def supports_parallel_function_calling(model: str, custom_llm_provider: str | None = None) -> bool:
    return _supports("supports_parallel_function_calling", model, custom_llm_provider)


def supports_tool_choice(model: str, custom_llm_provider: str | None = None) -> bool:
    return _supports("supports_tool_choice", model, custom_llm_provider)


def supports_vision(model: str, custom_llm_provider: str | None = None) -> bool:
    """Whether the model takes images in messages."""
    return _supports("supports_vision", model, custom_llm_provider)


def supports_prompt_caching(model: str, custom_llm_provider: str | None = None) -> bool:
    return _supports("supports_prompt_caching", model, custom_llm_provider)


def supports_response_schema(model: str, custom_llm_provider: str | None = None) -> bool:
    """Whether the model takes ``response_format`` with a JSON schema."""
    return _supports("supports_response_schema", model, custom_llm_provider)


def supports_reasoning(model: str, custom_llm_provider: str | None = None) -> bool:
    return _supports("supports_reasoning", model, custom_llm_provider)


def supports_system_messages(model: str, custom_llm_provider: str | None = None) -> bool:
    return _supports("supports_system_messages", model, custom_llm_provider)


def supports_pdf_input(model: str, custom_llm_provider: str | None = None) -> bool:
    return _supports("supports_pdf_input", model, custom_llm_provider)


def supports_audio_input(model: str, custom_llm_provider: str | None = None) -> bool:
    return _supports("supports_audio_input", model, custom_llm_provider)


def supports_audio_output(model: str, custom_llm_provider: str | None = None) -> bool:
    return _supports("supports_audio_output", model, custom_llm_provider)


def supports_web_search(model: str, custom_llm_provider: str | None = None) -> bool:
    return _supports("supports_web_search", model, custom_llm_provider)


def get_max_tokens(model: str) -> int | None:
    """LiteLLM's ``get_max_tokens``: the most tokens the model will write in
    one answer. Raises ``NotFoundError`` for a model the catalogue does not list."""
    info = get_model_info(model)
    value = info.get("max_output_tokens")
    return value if value is not None else info.get("max_tokens")


# ------------------------------------------------------------------ providers and params
def _first_env(names: Iterable[str]) -> str | None:
    return next((os.environ[name] for name in names if os.environ.get(name)), None)


def get_llm_provider(model: str, custom_llm_provider: str | None = None, api_base: str | None = None,
                     api_key: str | None = None, litellm_params: Any = None) -> tuple[str, str, str | None, str | None]:
    """LiteLLM's ``get_llm_provider``: ``(model, provider, dynamic_api_key, api_base)``.

    The key and base are filled for the OpenAI-compatible providers (Groq,
    DeepSeek, Mistral, ...), from the arguments or the provider's
    environment variables, as LiteLLM does; for the others they are the
    arguments as given. Raises ``BadRequestError`` for a name no provider claims.
    """
    from .providers import ADAPTERS, resolve
    from .providers.openai_compatible import ADAPTERS as COMPATIBLE

    if isinstance(litellm_params, Mapping):
        api_base = api_base or litellm_params.get("api_base")
        api_key = api_key or litellm_params.get("api_key")
    head, sep, rest = model.partition("/")
    if not custom_llm_provider and sep and head in PROVIDER_ALIASES and head not in ADAPTERS:
        return rest, head, api_key, api_base  # LiteLLM's route names (cohere_chat/, bedrock_converse/...)
    provider, name = resolve(model, custom_llm_provider)
    if provider in COMPATIBLE and provider not in ("openai", "text-completion-openai"):
        adapter = COMPATIBLE[provider]
        api_key = api_key or _first_env(adapter.api_key_env)
        api_base = api_base or _first_env(adapter.api_base_env) or adapter.default_api_base or None
    return name, provider, api_key, api_base


def get_supported_openai_params(model: str, custom_llm_provider: str | None = None,
                                request_type: str = "chat_completion") -> list[str] | None:
    """LiteLLM's ``get_supported_openai_params``: the OpenAI parameters this
    provider takes for this kind of request; None for a provider polyrelay
    does not know."""
    from .params import OPENAI_PARAMS
    from .providers import ADAPTERS, resolve

    kind = _REQUEST_KINDS.get(request_type)
    if kind is None:
        return None
    try:
        provider, _ = resolve(model, PROVIDER_ALIASES.get(custom_llm_provider or "", custom_llm_provider))
    except PolyrelayError:
        return None
    adapter = ADAPTERS.get(provider)
    if adapter is None:
        return None
    supported = sorted(OPENAI_PARAMS[kind] - adapter.unsupported_params)
    return [*supported, *_STREAM_PARAMS] if kind in ("chat", "text") else supported


# ------------------------------------------------------------------ tokenizer
def encode(model: str = "", text: str = "", custom_tokenizer: Mapping[str, Any] | None = None) -> list[int]:
    """LiteLLM's ``encode``: ``text`` as the model's token ids (tiktoken's
    o200k or cl100k table; other models are counted with cl100k)."""
    if custom_tokenizer is not None:
        encoded = custom_tokenizer["tokenizer"].encode(text)
        return list(getattr(encoded, "ids", encoded))
    return _tokens.encoding_for(model).encode(text, disallowed_special=())


def decode(model: str = "", tokens: Iterable[int] = (), custom_tokenizer: Mapping[str, Any] | None = None) -> str:
    """LiteLLM's ``decode``: token ids back to text."""
    if custom_tokenizer is not None:
        return custom_tokenizer["tokenizer"].decode(list(tokens))
    return _tokens.encoding_for(model).decode(list(tokens))


# ------------------------------------------------------------------ model_cost
def get_model_cost_map(url: str | None = None, **_: Any) -> dict[str, dict[str, Any]]:
    """LiteLLM's ``get_model_cost_map``: a fresh copy of the whole catalogue
    in LiteLLM's shape. polyrelay never fetches prices at run time (cost
    must not depend on the network), so a URL answers the shipped catalogue,
    which is what LiteLLM falls back to when its fetch fails; to load newer
    prices, download the file and pass its path to ``register_model``."""
    if url and url.startswith(("http://", "https://")):
        logger.info("polyrelay: get_model_cost_map does not fetch %s; answering the shipped catalogue", url)
    return _catalogue_as_litellm()


def _catalogue_as_litellm() -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for key in CATALOG.keys():
        entry = CATALOG.get(key)
        if entry is not None:
            out.setdefault(litellm_key(key), dict(entry))  # the first provider listed keeps a shared bare name
    return out


class ModelCostMap(dict):
    """``polyrelay.model_cost``: a dict, refilled in place when the catalogue
    changes. Its values are copies: change prices with ``register_model``
    (or by assigning an entry here, which registers it)."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._refill()
        CATALOG.on_change(self._refill)

    def _refill(self) -> None:
        fresh = _catalogue_as_litellm()
        with self._lock:
            # In place, never emptied on the way: a reader on another thread
            # sees each model either before or after the change, never missing.
            for gone in self.keys() - fresh.keys():
                dict.pop(self, gone, None)
            dict.update(self, fresh)

    def __setitem__(self, key: str, value: Mapping[str, Any]) -> None:
        register_model({key: dict(value)})  # refills this dict through the catalogue's listener

    def update(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        register_model(dict(*args, **kwargs))


_model_cost: ModelCostMap | None = None
_model_cost_lock = threading.Lock()


def __getattr__(name: str) -> Any:
    # model_cost is built on first use: importing this module must not load the catalogue.
    global _model_cost
    if name != "model_cost":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    with _model_cost_lock:
        if _model_cost is None:
            _model_cost = ModelCostMap()
    return _model_cost
