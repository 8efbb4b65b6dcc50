"""Exceptions: one class per OpenAI error kind, each a subclass of the
``openai`` package's class of the same name, so ``except openai.RateLimitError``
catches ours too.

    openai.OpenAIError
    └── openai.APIError ─────────────────────────── APIError (any other status)
        ├── openai.APIStatusError ──────────────── ServiceUnavailableError 503
        │   ├── openai.BadRequestError ─────────── BadRequestError 400
        │   │       ├── ContextWindowExceededError
        │   │       ├── ContentPolicyViolationError
        │   │       └── UnsupportedParamsError
        │   ├── openai.AuthenticationError ─────── AuthenticationError 401
        │   ├── openai.PermissionDeniedError ───── PermissionDeniedError 403
        │   ├── openai.NotFoundError ───────────── NotFoundError 404
        │   ├── openai.UnprocessableEntityError ── UnprocessableEntityError 422
        │   ├── openai.RateLimitError ──────────── RateLimitError 429
        │   └── openai.InternalServerError ─────── InternalServerError 500
        └── openai.APIConnectionError ──────────── APIConnectionError
            └── openai.APITimeoutError ─────────── Timeout 408

Every instance carries ``status_code``, ``message``, ``llm_provider`` and
``model``. The openai constructors want their own httpx objects, so ours set
the same attributes directly instead of calling them.

Status -> class is ``STATUS_TO_ERROR``; whether to retry is ``should_retry``.
"""

from __future__ import annotations

from typing import Any

import openai

from .redact import scrub


class PolyrelayError(Exception):
    """Base of every polyrelay exception: the fields they all carry."""

    status_code: int = 500
    openai_type: str = "api_error"

    def __init__(
        self,
        message: str,
        *,
        llm_provider: str = "",
        model: str = "",
        status_code: int | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
        code: str | None = None,
        param: str | None = None,
        secrets: tuple[str, ...] = (),
    ) -> None:
        message = scrub(str(message), secrets)
        if status_code is not None:
            self.status_code = status_code
        self.message = message
        self.llm_provider = llm_provider
        self.model = model
        self.body = body
        self.headers = dict(headers or {})
        self.code = code
        self.param = param
        self.type = self.openai_type
        self.request = None
        self.response = None
        self.request_id = self.headers.get("x-request-id")
        self.num_retries: int | None = None
        self.model_id: str | None = None  # the router deployment that failed, when one did
        Exception.__init__(self, f"polyrelay.{type(self).__name__}: {message}")

    def __reduce__(self):
        # Exceptions cross process and thread boundaries (router workers);
        # keyword-only constructors need help to pickle.
        return (_rebuild, (type(self), self.__dict__.copy()))

    def to_openai_body(self) -> dict[str, Any]:
        """The error as OpenAI's wire format."""
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code if self.code is not None else str(self.status_code),
            }
        }


def _rebuild(cls, state):
    exc = cls.__new__(cls)
    exc.__dict__.update(state)
    Exception.__init__(exc, f"polyrelay.{cls.__name__}: {state.get('message', '')}")
    return exc


class BadRequestError(PolyrelayError, openai.BadRequestError):
    status_code = 400
    openai_type = "invalid_request_error"


class ContextWindowExceededError(BadRequestError):
    """The prompt (plus max_tokens) does not fit the model's context window."""


class ContentPolicyViolationError(BadRequestError):
    """The provider refused the input or output on content-policy grounds."""


class UnsupportedParamsError(BadRequestError):
    """A parameter the target provider cannot take (see ``drop_params``)."""


class AuthenticationError(PolyrelayError, openai.AuthenticationError):
    status_code = 401
    openai_type = "authentication_error"


class PermissionDeniedError(PolyrelayError, openai.PermissionDeniedError):
    status_code = 403
    openai_type = "permission_error"


class NotFoundError(PolyrelayError, openai.NotFoundError):
    status_code = 404
    openai_type = "not_found_error"


class UnprocessableEntityError(PolyrelayError, openai.UnprocessableEntityError):
    status_code = 422
    openai_type = "invalid_request_error"


class RateLimitError(PolyrelayError, openai.RateLimitError):
    status_code = 429
    openai_type = "rate_limit_error"


class InternalServerError(PolyrelayError, openai.InternalServerError):
    status_code = 500
    openai_type = "api_error"


class ServiceUnavailableError(PolyrelayError, openai.APIStatusError):
    status_code = 503
    openai_type = "service_unavailable_error"


class APIError(PolyrelayError, openai.APIError):
    """A provider status with no more specific class (409, 502, ...)."""

    status_code = 500
    openai_type = "api_error"


class APIConnectionError(PolyrelayError, openai.APIConnectionError):
    """The provider could not be reached, or the connection broke mid-answer."""

    status_code = 500
    openai_type = "api_connection_error"


class Timeout(PolyrelayError, openai.APITimeoutError):
    status_code = 408
    openai_type = "timeout_error"


STATUS_TO_ERROR: dict[int, type[PolyrelayError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    408: Timeout,
    413: BadRequestError,
    422: UnprocessableEntityError,
    429: RateLimitError,
    500: InternalServerError,
    503: ServiceUnavailableError,
    # Anthropic's "overloaded" status: the same meaning as 503.
    529: ServiceUnavailableError,
}

RETRYABLE_STATUSES = frozenset({408, 409, 429})


def error_for_status(status: int, message: str, **fields: Any) -> PolyrelayError:
    """The exception for an HTTP status from a provider."""
    cls = STATUS_TO_ERROR.get(status)
    if cls is None:
        cls = InternalServerError if status >= 500 else APIError
    return cls(message, status_code=status, **fields)


def should_retry(exc: BaseException) -> bool:
    """Timeouts, broken connections, 408/409/429 and 5xx are worth another try;
    auth, bad requests and content refusals never are."""
    if isinstance(exc, (Timeout, APIConnectionError)):
        return True
    if isinstance(exc, PolyrelayError):
        status = exc.status_code
        return status in RETRYABLE_STATUSES or status >= 500
    return False


def retry_after_seconds(exc: BaseException) -> float | None:
    """The wait a provider asked for, from ``retry-after-ms`` or ``retry-after``."""
    headers = getattr(exc, "headers", None) or {}
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) * scale
        except ValueError:
            continue  # an HTTP-date: rare from LLM providers; fall back to backoff
        if 0 <= seconds <= 60:
            return seconds
    return None
