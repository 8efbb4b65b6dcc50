"""Exceptions: one class per OpenAI error kind, each a subclass of the
``openai`` package's class of the same name, so ``except openai.RateLimitError``
catches ours too.

    openai.OpenAIError
    └── openai.APIError ─────────────────────────── APIError (any other status)
        ├── openai.APIStatusError ──────────────── ServiceUnavailableError 503, BadGatewayError 502
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

import httpx
import openai

from .redact import scrub


class PolyrelayError(Exception):
    """Base of every polyrelay exception: the fields they all carry.

    The constructor takes LiteLLM's arguments, positionally in the order
    LiteLLM's class of the same name takes them (``RateLimitError(message,
    llm_provider, model, response=None, litellm_debug_info=None, ...)``,
    ``NotFoundError(message, model, llm_provider, ...)``), so code that
    raises LiteLLM's exceptions, in mocks and tests, runs unchanged. Inside
    polyrelay everything after the message is passed by keyword.
    """

    status_code: int = 500
    openai_type: str = "api_error"
    # LiteLLM's positional arguments after ``message``, in its order for this class.
    litellm_args: tuple[str, ...] = ("llm_provider", "model", "response", "litellm_debug_info", "max_retries",
                                     "num_retries")

    def __init__(
        self,
        message: str,
        *args: Any,
        llm_provider: str | None = "",
        model: str | None = "",
        status_code: int | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
        code: str | None = None,
        param: str | None = None,
        secrets: tuple[str, ...] = (),
        **litellm_fields: Any,
    ) -> None:
        if args:
            given = {**litellm_fields, **{name: value for name, value in (
                ("llm_provider", llm_provider), ("model", model), ("status_code", status_code), ("headers", headers))
                if value not in ("", None)}}
            named = self._positional(args, given)
            llm_provider = named.pop("llm_provider", llm_provider)
            model = named.pop("model", model)
            status_code = named.pop("status_code", status_code)
            headers = named.pop("headers", headers)
            litellm_fields.update(named)
        message = scrub(str(message), secrets)
        if status_code is not None:
            self.status_code = status_code
        self.message = message
        self.llm_provider = llm_provider or ""
        self.model = model or ""
        self.body = body
        self.headers = dict(headers or {})
        self.param = param
        self.type = self.openai_type
        self.request_id = self.headers.get("x-request-id")
        self.num_retries: int | None = litellm_fields.pop("num_retries", None)
        self.max_retries: int | None = litellm_fields.pop("max_retries", None)
        self.litellm_debug_info: str | None = litellm_fields.pop("litellm_debug_info", None)
        self._response = litellm_fields.pop("response", None)
        self._request = litellm_fields.pop("request", None)
        # openai's classes read ``code`` from the error body; LiteLLM's RateLimitError says "429".
        if code is None and isinstance(body, dict):
            error = body.get("error", body)
            code = error.get("code") if isinstance(error, dict) else None
        self.code = code if code is not None else str(self.status_code)
        self.model_id: str | None = None  # the router deployment that failed, when one did
        for name, value in litellm_fields.items():
            setattr(self, name, value)  # LiteLLM's extras (provider_specific_fields, category, ...)
        Exception.__init__(self, f"polyrelay.{type(self).__name__}: {message}")

    def _positional(self, args: tuple[Any, ...], given: dict[str, Any]) -> dict[str, Any]:
        names = self.litellm_args
        if len(args) > len(names):
            raise TypeError(f"{type(self).__name__}() takes at most {len(names) + 1} positional arguments "
                            f"({len(args) + 1} given)")
        named = dict(zip(names, args))
        for name in named.keys() & given.keys():
            raise TypeError(f"{type(self).__name__}() got multiple values for argument {name!r}")
        return named

    # openai's classes carry the httpx request and response. Ours build them
    # only when someone reads them: an error on the gateway's path never does.
    @property
    def request(self) -> httpx.Request:
        if self._request is None:
            self._request = httpx.Request("POST", _PLACEHOLDER_URL)
        return self._request

    @request.setter
    def request(self, value: httpx.Request | None) -> None:
        self._request = value

    @property
    def response(self) -> httpx.Response:
        if self._response is None:
            self._response = httpx.Response(self.status_code, headers=self.headers, request=self.request)
        return self._response

    @response.setter
    def response(self, value: httpx.Response | None) -> None:
        self._response = value

    def __reduce__(self):
        # Exceptions cross process and thread boundaries (router workers);
        # keyword-only constructors need help to pickle. httpx objects stay behind.
        state = {**self.__dict__, "_request": None, "_response": None}
        return (_rebuild, (type(self), state))

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


# A stand-in URL for the httpx request of an error not built from a real one.
_PLACEHOLDER_URL = "https://polyrelay.invalid/v1"
# LiteLLM's classes whose positional order puts the model first.
_MODEL_FIRST = ("model", "llm_provider", "response", "litellm_debug_info", "max_retries", "num_retries")


def _rebuild(cls, state):
    exc = cls.__new__(cls)
    exc.__dict__.update(state)
    Exception.__init__(exc, f"polyrelay.{cls.__name__}: {state.get('message', '')}")
    return exc


class BadRequestError(PolyrelayError, openai.BadRequestError):
    status_code = 400
    openai_type = "invalid_request_error"
    litellm_args = _MODEL_FIRST


class ContextWindowExceededError(BadRequestError):
    """The prompt (plus max_tokens) does not fit the model's context window."""


class ContentPolicyViolationError(BadRequestError):
    """The provider refused the input or output on content-policy grounds."""


class UnsupportedParamsError(BadRequestError):
    """A parameter the target provider cannot take (see ``drop_params``)."""

    litellm_args = ("llm_provider", "model", "status_code", "response", "litellm_debug_info", "max_retries",
                    "num_retries")


class AuthenticationError(PolyrelayError, openai.AuthenticationError):
    status_code = 401
    openai_type = "authentication_error"


class PermissionDeniedError(PolyrelayError, openai.PermissionDeniedError):
    status_code = 403
    openai_type = "permission_error"


class NotFoundError(PolyrelayError, openai.NotFoundError):
    status_code = 404
    openai_type = "not_found_error"
    litellm_args = _MODEL_FIRST


class UnprocessableEntityError(PolyrelayError, openai.UnprocessableEntityError):
    status_code = 422
    openai_type = "invalid_request_error"
    litellm_args = _MODEL_FIRST


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
    """A provider status with no more specific class (409, 502, ...).

    LiteLLM's takes the status first: ``APIError(status_code, message,
    llm_provider, model, request=None, ...)``; ours also takes that form."""

    status_code = 500
    openai_type = "api_error"
    litellm_args = ("llm_provider", "model", "request", "litellm_debug_info", "max_retries", "num_retries")

    def __init__(self, message: Any = None, *args: Any, **fields: Any) -> None:
        if isinstance(message, int) and not isinstance(message, bool):  # LiteLLM's order: status first
            fields["status_code"] = message
            if args:
                message, args = args[0], args[1:]
            else:
                message = fields.pop("message", "")
        elif message is None:
            message = fields.pop("message", "")
        super().__init__(message, *args, **fields)


class APIConnectionError(PolyrelayError, openai.APIConnectionError):
    """The provider could not be reached, or the connection broke mid-answer."""

    status_code = 500
    openai_type = "api_connection_error"
    litellm_args = ("llm_provider", "model", "request", "litellm_debug_info", "max_retries", "num_retries")


class Timeout(PolyrelayError, openai.APITimeoutError):
    status_code = 408
    openai_type = "timeout_error"
    litellm_args = ("model", "llm_provider", "litellm_debug_info", "max_retries", "num_retries", "headers",
                    "exception_status_code", "response")


class BadGatewayError(PolyrelayError, openai.APIStatusError):
    """LiteLLM's 502 class. Provider 502s are raised as ``InternalServerError``
    (a 5xx, retried the same way); this one exists for code that names it."""

    status_code = 502
    openai_type = "api_error"


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
