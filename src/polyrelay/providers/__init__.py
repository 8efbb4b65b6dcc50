"""Provider adapters by name, and model-name resolution.

Dispatch is a dict lookup: a new provider is one more entry here, never an
``if provider == ...`` elsewhere.
"""

from __future__ import annotations

from ..errors import BadRequestError
from .anthropic import AnthropicAdapter
from .azure import AzureAdapter
from .azure_ai import AzureAIAdapter
from .base import Adapter
from .bedrock import BedrockAdapter
from .cohere import CohereAdapter
from .custom import custom_adapter
from .gemini import GeminiAdapter
from .hosted import ADAPTERS as _HOSTED  # issue 20: sagemaker, replicate, huggingface, databricks, ...
from .mock import MockAdapter
from .ollama import OllamaAdapter
from .openai_compatible import ADAPTERS as _COMPATIBLE
from .vertex import VertexAdapter
from .watsonx import WatsonxAdapter

ADAPTERS: dict[str, Adapter] = {
    **_COMPATIBLE,
    **_HOSTED,
    "mock": MockAdapter(),
    "anthropic": AnthropicAdapter(),
    "azure": AzureAdapter(),
    "gemini": GeminiAdapter(),
    "cohere": CohereAdapter(),
    "ollama": OllamaAdapter(),
    "bedrock": BedrockAdapter(),
    "vertex_ai": VertexAdapter(),
    "watsonx": WatsonxAdapter(),
    "azure_ai": AzureAIAdapter(),
}

# Bare model names people use without a provider prefix, by prefix.
# (The model catalogue refines this; these are the families that never move.)
_BARE_PREFIXES: tuple[tuple[str, str], ...] = (
    ("gpt-3.5-turbo-instruct", "text-completion-openai"),
    ("davinci-002", "text-completion-openai"),
    ("babbage-002", "text-completion-openai"),
    ("text-davinci", "text-completion-openai"),
    ("gpt-", "openai"),
    ("chatgpt-", "openai"),
    ("o1", "openai"),
    ("o3", "openai"),
    ("o4", "openai"),
    ("text-embedding-", "openai"),
    ("omni-moderation", "openai"),
    ("text-moderation", "openai"),
    ("deepseek-", "deepseek"),
    ("claude-", "anthropic"),
    ("gemini-", "gemini"),
    ("mistral-", "mistral"),
    ("grok-", "xai"),
)


def get_adapter(provider: str) -> Adapter:
    found = ADAPTERS.get(provider)
    if found is None:
        found = custom_adapter(provider)  # polyrelay.custom_provider_map, read only on a miss
    if found is None:
        raise BadRequestError(f"Unknown provider {provider!r}. Known: {', '.join(sorted(ADAPTERS))}",
                              llm_provider=provider)
    return found


def resolve(model: str, custom_llm_provider: str | None = None) -> tuple[str, str]:
    """``(provider, provider's model name)`` for a model as a caller names it."""
    if not model or not isinstance(model, str):
        raise BadRequestError("model must be a non-empty string")
    if custom_llm_provider:
        prefix = custom_llm_provider + "/"
        return custom_llm_provider, model[len(prefix):] if model.startswith(prefix) else model
    head, sep, rest = model.partition("/")
    if sep and head not in ADAPTERS and custom_adapter(head) is not None:
        return head, rest
    if sep and head in ADAPTERS:
        if head == "openai" and _bare_provider(rest) == "text-completion-openai":
            return "text-completion-openai", rest  # openai/gpt-3.5-turbo-instruct: legacy endpoint
        return head, rest
    provider = _bare_provider(model)
    if provider is not None:
        return provider, model
    raise BadRequestError(
        f"LLM Provider NOT provided for model {model!r}: name it as provider/model "
        f"(e.g. openai/gpt-4o, mock/any) or pass custom_llm_provider. Known providers: {', '.join(sorted(ADAPTERS))}",
        model=model,
    )


def _bare_provider(model: str) -> str | None:
    lowered = model.lower()
    for prefix, provider in _BARE_PREFIXES:
        if lowered.startswith(prefix) and provider in ADAPTERS:
            return provider
    return None
