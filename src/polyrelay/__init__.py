"""polyrelay: one OpenAI-format API for every LLM provider.

Same names and meanings as LiteLLM's SDK, so ``import polyrelay as litellm``
runs LiteLLM code unchanged.
"""

from .api import (
    acompletion,
    aembedding,
    amoderation,
    atext_completion,
    completion,
    embedding,
    moderation,
    text_completion,
)
from .cost import completion_cost, cost_per_token, get_model_info, register_model
from .errors import (
    APIConnectionError,
    APIError,
    AuthenticationError,
    BadRequestError,
    ContentPolicyViolationError,
    ContextWindowExceededError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServiceUnavailableError,
    Timeout,
    UnprocessableEntityError,
    UnsupportedParamsError,
)
from .router import Router
from .streaming import stream_chunk_builder
from .tokens import token_counter
from .types import (
    Choices,
    Delta,
    EmbeddingResponse,
    Message,
    ModelResponse,
    ModelResponseStream,
    ModerationResponse,
    StreamingChoices,
    TextChoices,
    TextCompletionResponse,
    Usage,
)

__version__ = "0.1.0"

# Settings LiteLLM users assign on the module (``litellm.drop_params = True``).
# They are read at call time; a per-call argument always wins.
drop_params: bool = False
num_retries: int | None = None
request_timeout: float | None = None
set_verbose: bool = False

__all__ = [
    "APIConnectionError", "APIError", "AuthenticationError", "BadRequestError", "Choices",
    "ContentPolicyViolationError", "ContextWindowExceededError", "Delta", "EmbeddingResponse",
    "InternalServerError", "Message", "ModelResponse", "ModelResponseStream", "ModerationResponse",
    "NotFoundError", "PermissionDeniedError", "RateLimitError", "Router", "ServiceUnavailableError", "StreamingChoices",
    "TextChoices", "TextCompletionResponse", "Timeout", "UnprocessableEntityError", "UnsupportedParamsError",
    "Usage", "acompletion", "aembedding", "amoderation", "atext_completion", "completion", "completion_cost",
    "cost_per_token", "embedding", "get_model_info", "moderation", "register_model", "stream_chunk_builder",
    "text_completion", "token_counter",
]
