"""polyrelay: one OpenAI-format API for every LLM provider.

Same names and meanings as LiteLLM's SDK, so ``import polyrelay as litellm``
runs LiteLLM code unchanged.
"""

from importlib import import_module as _import_module
from typing import Any as _Any

# Public name -> the module that defines it. Imported on first use (PEP 562),
# so a process that needs one corner of the package (the spend drain, the
# CLI's --help) does not load the SDK and the ``openai`` package with it.
_EXPORTS = {
    **dict.fromkeys(("acompletion", "aembedding", "amoderation", "atext_completion", "completion", "embedding",
                     "mock_completion", "moderation", "text_completion"), "api"),
    **dict.fromkeys(("completion_cost", "cost_per_token", "register_model"), "cost"),
    **dict.fromkeys(("decode", "encode", "get_llm_provider", "get_max_tokens", "get_model_cost_map", "get_model_info",
                     "get_supported_openai_params", "model_cost", "supports_audio_input", "supports_audio_output",
                     "supports_function_calling", "supports_parallel_function_calling", "supports_pdf_input",
                     "supports_prompt_caching", "supports_reasoning", "supports_response_schema",
                     "supports_system_messages", "supports_tool_choice", "supports_vision", "supports_web_search"),
                    "metadata"),
    **dict.fromkeys(("APIConnectionError", "APIError", "AuthenticationError", "BadRequestError",
                     "ContentPolicyViolationError", "ContextWindowExceededError", "InternalServerError",
                     "NotFoundError", "PermissionDeniedError", "RateLimitError", "ServiceUnavailableError",
                     "Timeout", "UnprocessableEntityError", "UnsupportedParamsError", "BadGatewayError"), "errors"),
    **dict.fromkeys(("LITELLM_EXCEPTION_TYPES", "OpenAIError"), "exceptions"),
    **dict.fromkeys(("AllowedFailsPolicy", "RetryPolicy", "Router"), "router"),
    **dict.fromkeys(("acompletion_with_retries", "batch_completion", "batch_completion_models",
                     "batch_completion_models_all_responses", "completion_with_retries"), "batch"),
    **dict.fromkeys(("CustomLLM", "CustomLLMError", "GenericStreamingChunk"), "custom_llm"),
    **dict.fromkeys(("ImageResponse", "RerankResponse", "SpeechResponse", "TranscriptionResponse", "aimage_generation",
                     "arerank", "aspeech", "atranscription", "image_generation", "rerank", "speech", "transcription"),
                    "media"),
    **dict.fromkeys(("acancel_batch", "acreate_batch", "acreate_file", "afile_content", "afile_retrieve",
                     "aretrieve_batch", "cancel_batch", "create_batch", "create_file", "file_content", "file_retrieve",
                     "retrieve_batch"), "media.files"),
    "CustomGuardrail": "guardrails.base",
    "stream_chunk_builder": "streaming",
    "CustomLogger": "observe.custom_logger",
    **dict.fromkeys(("Cache", "disable_cache", "enable_cache", "update_cache"), "caching"),
    **dict.fromkeys(("aresponses", "responses"), "agent_calls"),
    "token_counter": "tokens",
    **dict.fromkeys(("Choices", "Delta", "EmbeddingResponse", "Message", "ModelResponse", "ModelResponseStream",
                     "ModerationResponse", "StreamingChoices", "TextChoices", "TextCompletionResponse", "Usage"),
                    "types"),
}


def __getattr__(name: str) -> _Any:
    if name == "anthropic":  # a subpackage: polyrelay.anthropic.messages.create(...)
        value = _import_module(".anthropic", __name__)
        globals()[name] = value
        return value
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'polyrelay' has no attribute {name!r}")
    value = getattr(_import_module(f".{module}", __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS, "anthropic"})


__version__ = "0.1.0"

# Settings LiteLLM users assign on the module (``litellm.drop_params = True``).
# They are read at call time; a per-call argument always wins. api_key and
# api_base apply to every provider and win over its environment variables.
api_key: str | None = None
api_base: str | None = None
drop_params: bool = False
num_retries: int | None = None
request_timeout: float | None = None
set_verbose: bool = False
# Logging callbacks (observe/): names ("langfuse", "generic_api"), CustomLogger
# instances or functions fn(kwargs, response_obj, start_time, end_time).
callbacks: list = []
success_callback: list = []
failure_callback: list = []
turn_off_message_logging: bool = False
# Settings of the "s3" logging callback: {"s3_bucket_name": ..., "s3_region_name": ..., ...}.
s3_callback_params: dict | None = None
# Custom providers: [{"provider": "my-llm", "custom_handler": MyLLM()}] (see custom_llm.py).
custom_provider_map: list = []
# Response cache: ``polyrelay.cache = polyrelay.Cache(type="local")`` (see caching/).
cache = None

__all__ = [  # noqa: F822 (defined lazily by __getattr__)
    "APIConnectionError", "APIError", "AuthenticationError", "BadRequestError", "Choices",
    "ContentPolicyViolationError", "ContextWindowExceededError", "Delta", "EmbeddingResponse",
    "InternalServerError", "Message", "ModelResponse", "ModelResponseStream", "ModerationResponse",
    "NotFoundError", "PermissionDeniedError", "RateLimitError", "Router", "ServiceUnavailableError", "StreamingChoices",
    "TextChoices", "TextCompletionResponse", "Timeout", "UnprocessableEntityError", "UnsupportedParamsError",
    "Usage", "acompletion", "aembedding", "amoderation", "atext_completion", "completion", "completion_cost",
    "cost_per_token", "embedding", "get_model_info", "mock_completion", "moderation", "register_model",
    "stream_chunk_builder", "text_completion", "token_counter",
    # LiteLLM's model metadata helpers (metadata.py) and exception names (exceptions.py)
    "BadGatewayError", "LITELLM_EXCEPTION_TYPES", "OpenAIError", "decode", "encode", "get_llm_provider",
    "get_max_tokens", "get_model_cost_map", "get_supported_openai_params", "model_cost", "supports_audio_input",
    "supports_audio_output", "supports_function_calling", "supports_parallel_function_calling",
    "supports_pdf_input", "supports_prompt_caching", "supports_reasoning", "supports_response_schema",
    "supports_system_messages", "supports_tool_choice", "supports_vision", "supports_web_search",
    # Whole calls (batch.py), custom providers (custom_llm.py), Router policies
    "AllowedFailsPolicy", "CustomLogger", "CustomLLM", "CustomLLMError", "GenericStreamingChunk", "RetryPolicy",
    "acompletion_with_retries", "batch_completion",
    # Response caching (caching/)
    "Cache", "disable_cache", "enable_cache", "update_cache", "batch_completion_models",
    "batch_completion_models_all_responses", "completion_with_retries",
    # Images, rerank and audio (media/)
    "ImageResponse", "RerankResponse", "SpeechResponse", "TranscriptionResponse", "aimage_generation", "arerank",
    "aspeech", "atranscription", "image_generation", "rerank", "speech", "transcription",
    # Files and batches (media/files.py)
    "acancel_batch", "acreate_batch", "acreate_file", "afile_content", "afile_retrieve", "aretrieve_batch", "cancel_batch", "create_batch", "create_file", "file_content", "file_retrieve", "retrieve_batch",
    # Guardrails (guardrails/)
    "CustomGuardrail",
    # Agent front doors (agent_calls.py): OpenAI's Responses API and Anthropic's Messages API
    "aresponses", "responses",
]
