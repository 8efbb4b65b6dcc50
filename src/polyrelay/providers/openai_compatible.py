"""OpenAI and the OpenAI-compatible providers, one row each.

Defaults come from each provider's public API reference: base URL, the
environment variable its own SDK reads for the key, and the chat
parameters it documents as unsupported (sent anyway they give a 400/422,
so polyrelay names them before the call, or drops them with drop_params).
"""

from __future__ import annotations

from .base import CHAT, EMBEDDING, MODERATION, TEXT
from .openai import OpenAIAdapter, OpenAICompatible

_CHAT_EMBED = frozenset({CHAT, EMBEDDING})
_NO_LOGPROBS = frozenset({"logprobs", "top_logprobs", "logit_bias"})

ROWS: tuple[OpenAICompatible, ...] = (
    # Chat models only: text_completion on them is bridged over chat, as
    # LiteLLM does; the legacy endpoint is the next row's.
    OpenAICompatible("openai", "https://api.openai.com/v1", ("OPENAI_API_KEY",),
                     ("OPENAI_API_BASE", "OPENAI_BASE_URL"), kinds=frozenset({CHAT, EMBEDDING, MODERATION})),
    # Legacy /v1/completions models (gpt-3.5-turbo-instruct, davinci-002, ...).
    OpenAICompatible("text-completion-openai", "https://api.openai.com/v1", ("OPENAI_API_KEY",),
                     ("OPENAI_API_BASE", "OPENAI_BASE_URL"), kinds=frozenset({TEXT})),
    OpenAICompatible("groq", "https://api.groq.com/openai/v1", ("GROQ_API_KEY",), ("GROQ_API_BASE",),
                     unsupported=_NO_LOGPROBS),
    OpenAICompatible("deepseek", "https://api.deepseek.com", ("DEEPSEEK_API_KEY",), ("DEEPSEEK_API_BASE",)),
    OpenAICompatible("mistral", "https://api.mistral.ai/v1", ("MISTRAL_API_KEY",), ("MISTRAL_API_BASE",),
                     kinds=_CHAT_EMBED, unsupported=_NO_LOGPROBS | {"user"},
                     renamed={"seed": "random_seed"}, streams_usage=False),
    OpenAICompatible("together_ai", "https://api.together.xyz/v1", ("TOGETHERAI_API_KEY", "TOGETHER_API_KEY"),
                     ("TOGETHERAI_API_BASE",), kinds=frozenset({CHAT, TEXT, EMBEDDING})),
    OpenAICompatible("fireworks_ai", "https://api.fireworks.ai/inference/v1",
                     ("FIREWORKS_AI_API_KEY", "FIREWORKS_API_KEY"), ("FIREWORKS_AI_API_BASE",),
                     kinds=frozenset({CHAT, TEXT, EMBEDDING})),
    OpenAICompatible("openrouter", "https://openrouter.ai/api/v1", ("OPENROUTER_API_KEY",), ("OPENROUTER_API_BASE",)),
    OpenAICompatible("xai", "https://api.x.ai/v1", ("XAI_API_KEY",), ("XAI_API_BASE",)),
    OpenAICompatible("perplexity", "https://api.perplexity.ai", ("PERPLEXITYAI_API_KEY", "PERPLEXITY_API_KEY"),
                     ("PERPLEXITY_API_BASE",),
                     unsupported=_NO_LOGPROBS | {"n", "tools", "tool_choice", "parallel_tool_calls"},
                     streams_usage=False),
    # Hosted OpenAI-compatible endpoints (issue 20). Base URL and key variable
    # as LiteLLM names them for each provider, so existing env files keep working.
    OpenAICompatible("nvidia_nim", "https://integrate.api.nvidia.com/v1", ("NVIDIA_NIM_API_KEY",),
                     ("NVIDIA_NIM_API_BASE",)),
    OpenAICompatible("cerebras", "https://api.cerebras.ai/v1", ("CEREBRAS_API_KEY",), ("CEREBRAS_API_BASE",)),
    OpenAICompatible("sambanova", "https://api.sambanova.ai/v1", ("SAMBANOVA_API_KEY",), ("SAMBANOVA_API_BASE",)),
    OpenAICompatible("deepinfra", "https://api.deepinfra.com/v1/openai", ("DEEPINFRA_API_KEY",),
                     ("DEEPINFRA_API_BASE",), kinds=_CHAT_EMBED),
    # Self-hosted servers: no default address, and no key unless the admin set one.
    OpenAICompatible("hosted_vllm", None, ("HOSTED_VLLM_API_KEY",), ("HOSTED_VLLM_API_BASE",),
                     key_required=False, kinds=frozenset({CHAT, TEXT, EMBEDDING})),
    OpenAICompatible("lm_studio", "http://localhost:1234/v1", ("LM_STUDIO_API_KEY",), ("LM_STUDIO_API_BASE",),
                     key_required=False, kinds=_CHAT_EMBED),
    OpenAICompatible("ollama_chat", "http://localhost:11434/v1", ("OLLAMA_API_KEY",), ("OLLAMA_API_BASE",),
                     key_required=False, kinds=_CHAT_EMBED),
)

ADAPTERS = {row.name: OpenAIAdapter(row) for row in ROWS}
