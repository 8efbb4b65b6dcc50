"""LiteLLM's ``litellm.exceptions`` path: ``from polyrelay.exceptions import
RateLimitError`` runs where LiteLLM's import did. The classes are those of
``polyrelay.errors`` (each a subclass of the ``openai`` class of the same
name, taking LiteLLM's constructor arguments)."""

import openai

from .errors import (
    APIConnectionError,
    APIError,
    AuthenticationError,
    BadGatewayError,
    BadRequestError,
    ContentPolicyViolationError,
    ContextWindowExceededError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    PolyrelayError,
    RateLimitError,
    ServiceUnavailableError,
    Timeout,
    UnprocessableEntityError,
    UnsupportedParamsError,
)

# LiteLLM's catch-all name: every polyrelay error is an openai.OpenAIError too.
OpenAIError = openai.OpenAIError

LITELLM_EXCEPTION_TYPES = [
    AuthenticationError, NotFoundError, BadRequestError, UnprocessableEntityError, UnsupportedParamsError, Timeout,
    PermissionDeniedError, RateLimitError, ContextWindowExceededError, InternalServerError, ContentPolicyViolationError,
    ServiceUnavailableError, BadGatewayError, APIError, APIConnectionError,
]

__all__ = [
    "APIConnectionError", "APIError", "AuthenticationError", "BadGatewayError", "BadRequestError",
    "ContentPolicyViolationError", "ContextWindowExceededError", "InternalServerError", "LITELLM_EXCEPTION_TYPES",
    "NotFoundError", "OpenAIError", "PermissionDeniedError", "PolyrelayError", "RateLimitError",
    "ServiceUnavailableError", "Timeout", "UnprocessableEntityError", "UnsupportedParamsError",
]
