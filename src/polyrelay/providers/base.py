"""What every provider adapter is made of.

An adapter turns a ``Call`` (an OpenAI-format request, already resolved to a
provider and a model) into an ``HTTPRequest``, and the provider's answer,
stream events and error bodies back into OpenAI-format dicts. It does no I/O:
the transport sends what it builds. ``Adapter`` gives the defaults; a
provider overrides what its protocol does differently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

from ..errors import PolyrelayError, error_for_status
from ..redact import scrub

CHAT, TEXT, EMBEDDING, MODERATION = "chat", "text", "embedding", "moderation"

# Chat parameters only OpenAI's API has: a native adapter declares these
# unsupported (with whatever else its provider lacks).
OPENAI_ONLY_PARAMS = frozenset({
    "logit_bias", "logprobs", "top_logprobs", "parallel_tool_calls", "functions", "function_call", "modalities",
    "audio", "prediction", "store", "service_tier", "web_search_options", "verbosity", "reasoning_effort",
})


@dataclass(slots=True)
class Credentials:
    api_key: str | None = None
    api_base: str | None = None
    api_version: str | None = None
    extra_headers: dict[str, str] = field(default_factory=dict)
    # A bearer token used instead of a key (Azure AD / Entra ID).
    ad_token: str | None = None
    # Provider-specific credential arguments (aws_secret_access_key, ...),
    # kept out of the request params so nothing logs or forwards them.
    extra: dict[str, str] = field(default_factory=dict)

    def secrets(self) -> tuple[str, ...]:
        found = [self.api_key, self.ad_token, *(v for k, v in self.extra.items() if "region" not in k)]
        return tuple(s for s in found if s)


@dataclass(slots=True)
class Call:
    """One request to one provider, in OpenAI terms."""

    kind: str  # CHAT | TEXT | EMBEDDING | MODERATION
    provider: str
    model: str  # the provider's own model name
    params: dict[str, Any]  # the OpenAI request body, minus model/stream
    creds: Credentials
    stream: bool = False
    include_usage: bool = False
    # Settings for local providers (mock/): not sent anywhere.
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class HTTPRequest:
    method: str
    url: str
    headers: dict[str, str]
    json: Any = None
    stream: bool = False
    framing: str = "sse"  # "sse", "ndjson", "aws-eventstream" or "bytes" (audio, as it arrives), for streams
    # A body sent as it is instead of ``json`` (multipart audio uploads), with its Content-Type in headers.
    content: bytes | None = None
    # An in-process handler that answers instead of the network (mock/).
    local: Callable[["HTTPRequest"], Awaitable[Any]] | None = None


@dataclass(slots=True)
class StreamEvent:
    """One SSE event (``event`` may be None) or one NDJSON line (in ``data``)."""

    data: str
    event: str | None = None


class StreamState:
    """Per-stream memory an adapter keeps between events."""

    def __init__(self, call: Call) -> None:
        self.call = call
        self.finished = False  # the provider said the answer is complete
        self.id: str | None = None
        self.created: int | None = None
        self.model: str | None = None
        self.usage: dict[str, Any] | None = None  # provider-reported usage
        self.extra: dict[str, Any] = {}


class Adapter:
    """Defaults shared by every protocol; subclasses override the parts that differ."""

    name: str = ""
    kinds: frozenset[str] = frozenset({CHAT})
    default_api_base: str = ""
    api_key_env: tuple[str, ...] = ()
    api_base_env: tuple[str, ...] = ()
    ad_token_env: tuple[str, ...] = ()
    api_version_env: tuple[str, ...] = ()  # only providers with versioned APIs (Azure) read one
    # Keyword arguments that are credentials for this provider (see Credentials.extra).
    credential_args: tuple[str, ...] = ()
    # Chat params this provider rejects (the rest of OpenAI's set is accepted).
    unsupported_params: frozenset[str] = frozenset()
    # Whether the provider reports usage at the end of a stream when asked.
    streams_usage: bool = True

    def build_request(self, call: Call) -> HTTPRequest:
        raise NotImplementedError(f"{self.name} does not serve {call.kind} requests")

    def unsupported_params_for(self, model: str) -> frozenset[str]:
        """The chat params this provider rejects for one model (one name may front several APIs)."""
        return self.unsupported_params

    async def authorize(self, call: Call, request: HTTPRequest) -> HTTPRequest:
        """The request as sent, for providers whose credential is a short-lived token that has to be
        fetched over the network first (Vertex AI, watsonx); run before each attempt."""
        return request

    def api_base(self, call: Call, *, key_required: bool = True) -> str:
        """The base URL to call; a key is required when it is the provider's own."""
        base = (call.creds.api_base or self.default_api_base).rstrip("/")
        if key_required and not call.creds.api_key and base == self.default_api_base.rstrip("/"):
            from ..errors import AuthenticationError

            raise AuthenticationError(
                f"No API key for {self.name}: pass api_key= or set {' or '.join(self.api_key_env) or 'one'}",
                llm_provider=self.name, model=call.model)
        return base

    def parse_response(self, call: Call, data: Any) -> dict[str, Any]:
        raise NotImplementedError(f"{self.name} does not serve {call.kind} requests")

    def parse_reply(self, call: Call, data: Any, headers: dict[str, str]) -> dict[str, Any]:
        """The answer with the reply's headers, for providers that put part of it there (Bedrock's
        invoke API reports token counts in headers); most need only the body."""
        return self.parse_response(call, data)

    def parse_stream_event(self, state: StreamState, event: StreamEvent) -> list[dict[str, Any]]:
        raise NotImplementedError(f"{self.name} does not stream {state.call.kind} requests")

    def map_error(self, call: Call, status: int, body: bytes, headers: dict[str, str]) -> PolyrelayError:
        # Scrub before parsing: the body is kept on the exception, and an
        # upstream may echo the credential it was sent.
        body = scrub(body.decode("utf-8", "replace"), call.creds.secrets()).encode()
        message, code, param, parsed = error_message_from_body(body)
        return error_for_status(
            status,
            message or f"{self.name} answered HTTP {status}",
            llm_provider=self.name,
            model=call.model,
            body=parsed,
            headers=headers,
            code=code,
            param=param,
            secrets=call.creds.secrets(),
        )


def error_message_from_body(body: bytes) -> tuple[str, str | None, str | None, Any]:
    """(message, code, param, parsed body) from the usual ``{"error": ...}`` shapes."""
    import orjson

    try:
        parsed = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        return body.decode("utf-8", "replace")[:2000], None, None, None
    if not isinstance(parsed, dict):
        return str(parsed)[:2000], None, None, parsed
    err = parsed.get("error", parsed)
    if isinstance(err, str):
        return err, None, None, parsed
    if isinstance(err, dict):
        code = err.get("code")
        return (
            str(err.get("message") or err.get("detail") or parsed),
            str(code) if code is not None else None,
            err.get("param"),
            parsed,
        )
    return str(parsed)[:2000], None, None, parsed
