"""LiteLLM's ``litellm.utils`` path, for the names user code imports from it
(``from litellm.utils import ModelResponse, get_max_tokens, token_counter``).
Each is polyrelay's own, defined in the module named beside it."""

from .cost import completion_cost, cost_per_token, register_model
from .metadata import (
    decode,
    encode,
    get_llm_provider,
    get_max_tokens,
    get_model_info,
    get_supported_openai_params,
    supports_audio_input,
    supports_audio_output,
    supports_function_calling,
    supports_parallel_function_calling,
    supports_pdf_input,
    supports_prompt_caching,
    supports_reasoning,
    supports_response_schema,
    supports_system_messages,
    supports_tool_choice,
    supports_vision,
    supports_web_search,
)
from .streaming import stream_chunk_builder
from .tokens import token_counter
from .types import (
    Choices,
    Delta,
    Embedding,
    EmbeddingResponse,
    Message,
    ModelResponse,
    ModelResponseStream,
    StreamingChoices,
    TextChoices,
    TextCompletionResponse,
    Usage,
)

__all__ = [
    "Choices", "Delta", "Embedding", "EmbeddingResponse", "Message", "ModelResponse", "ModelResponseStream",
    "StreamingChoices", "TextChoices", "TextCompletionResponse", "Usage", "completion_cost", "cost_per_token",
    "decode", "encode", "get_llm_provider", "get_max_tokens", "get_model_info", "get_supported_openai_params",
    "register_model", "stream_chunk_builder", "supports_audio_input", "supports_audio_output",
    "supports_function_calling", "supports_parallel_function_calling", "supports_pdf_input",
    "supports_prompt_caching", "supports_reasoning", "supports_response_schema", "supports_system_messages",
    "supports_tool_choice", "supports_vision", "supports_web_search", "token_counter",
]
