"""From a caller's keyword arguments to a ``Call``: which arguments are
OpenAI request fields, which are ours (credentials, retries, mock
settings), which a provider cannot take, and where credentials come from.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Any

from .cost import PRICE_FIELDS
from .errors import BadRequestError, UnsupportedParamsError
from .messages import as_message_dicts
from .mocking import MOCK_TRIGGERS, is_mocked
from .providers import get_adapter, resolve
from .providers.base import CHAT, EMBEDDING, MODERATION, TEXT, Adapter, Call, Credentials
from .providers.mock import MOCK_OPTIONS

CHAT_PARAMS = frozenset({
    "temperature", "top_p", "n", "stop", "max_tokens", "max_completion_tokens", "presence_penalty",
    "frequency_penalty", "logit_bias", "user", "seed", "tools", "tool_choice", "parallel_tool_calls",
    "response_format", "logprobs", "top_logprobs", "functions", "function_call", "modalities", "audio",
    "prediction", "reasoning_effort", "store", "service_tier", "web_search_options", "verbosity",
})
TEXT_PARAMS = frozenset({
    "best_of", "echo", "frequency_penalty", "logit_bias", "logprobs", "max_tokens", "n", "presence_penalty",
    "seed", "stop", "suffix", "temperature", "top_p", "user",
})
EMBEDDING_PARAMS = frozenset({"encoding_format", "dimensions", "user"})
MODERATION_PARAMS: frozenset[str] = frozenset()
OPENAI_PARAMS = {CHAT: CHAT_PARAMS, TEXT: TEXT_PARAMS, EMBEDDING: EMBEDDING_PARAMS, MODERATION: MODERATION_PARAMS}

# Arguments polyrelay itself consumes: never sent to a provider.
CORE_ARGS = frozenset({
    "api_key", "azure_ad_token", "api_base", "base_url", "api_version", "timeout", "request_timeout", "num_retries",
    "max_retries", "extra_headers", "headers", "drop_params", "custom_llm_provider", "metadata",
    "stream", "stream_options", "litellm_call_id", "logger_fn", "model_info", "litellm_metadata",
    "proxy_server_request", "model_list", "litellm_logging_obj", "caching", "cache", "fallbacks",
    "context_window_fallbacks", "model_id", "verbose", "base_model", "polyrelay_wire", "allowed_model_groups",
    "polyrelay_log", "model_group",  # who called, for the logging payload (observe/)
    "native_params",
    *PRICE_FIELDS, *MOCK_OPTIONS, *MOCK_TRIGGERS,
    # LiteLLM callers pass their own openai/httpx client or aiohttp session; we
    # pool our own connections, and an object in the body would not serialise.
    "client", "shared_session",
    "guardrails",  # the gateway's (guardrails/); a non-empty list in an SDK call is refused in plan()
})


@dataclass(slots=True)
class Plan:
    """A call ready to send, with the settings that govern sending it."""

    adapter: Adapter
    call: Call
    requested_model: str
    timeout: float | None
    num_retries: int
    caller_wants_usage: bool
    mocked: bool = False  # answered by mocking.py and the mock/ provider, never the network
    metadata: dict[str, Any] | None = None


def package_setting(name: str, default: Any = None) -> Any:
    """Module-level settings LiteLLM users set (``polyrelay.drop_params = True``)."""
    package = sys.modules.get("polyrelay")
    return getattr(package, name, default) if package is not None else default


def _first_env(names: tuple[str, ...]) -> str | None:
    # Read at call time (callers set keys after import), and only the names
    # the adapter declares: a miss in os.environ costs a KeyError inside it.
    for name in names:
        value = os.environ.get(name)
        if value:
            return value
    return None


def credentials(adapter: Adapter, kwargs: dict[str, Any]) -> Credentials:
    # As LiteLLM: the call's argument, then polyrelay.api_key / api_base, then the environment.
    api_key = kwargs.get("api_key") or package_setting("api_key") or _first_env(adapter.api_key_env)
    api_base = (kwargs.get("api_base") or kwargs.get("base_url") or package_setting("api_base")
                or _first_env(adapter.api_base_env))
    api_version = kwargs.get("api_version") or _first_env(adapter.api_version_env)
    headers = {**(kwargs.get("headers") or {}), **(kwargs.get("extra_headers") or {})}
    return Credentials(api_key=api_key, api_base=api_base, api_version=api_version,
                       extra_headers={str(k): str(v) for k, v in headers.items()},
                       ad_token=kwargs.get("azure_ad_token") or _first_env(adapter.ad_token_env),
                       extra={k: str(kwargs[k]) for k in adapter.credential_args if kwargs.get(k)})


def plan(kind: str, model: str, payload: dict[str, Any], kwargs: dict[str, Any]) -> Plan:
    """Resolve the provider, split and check the arguments, find credentials."""
    mocked = is_mocked(kwargs)
    try:
        provider, provider_model = resolve(model, kwargs.get("custom_llm_provider"))
    except Exception:
        if not mocked:
            raise
        provider, provider_model = "mock", model  # a mocked call needs no real provider
    adapter = get_adapter(provider)
    drop = bool(kwargs.get("drop_params", package_setting("drop_params", False)))
    body = dict(payload)
    if kind == CHAT:
        body["messages"] = as_message_dicts(body.get("messages"))
    known = OPENAI_PARAMS[kind]
    if kwargs.get("guardrails"):  # the gateway takes them off; here they would only reach the provider, unapplied
        raise BadRequestError("guardrails run on the gateway (polyrelay --config); an SDK call applies none: "
                              "drop 'guardrails' or call through the gateway", param="guardrails")
    for key, value in kwargs.items():
        if key in CORE_ARGS or value is None or key in adapter.credential_args:
            continue
        if key in known and key in adapter.unsupported_params_for(provider_model):
            if drop:
                continue
            raise UnsupportedParamsError(
                f"{provider} does not support parameter {key!r}. Pass drop_params=True "
                f"(or set polyrelay.drop_params = True) to drop it instead.",
                llm_provider=provider, model=provider_model, param=key,
            )
        body[key] = value  # OpenAI params, and provider-specific ones passed through as given
    # Params (and headers) only one provider understands (an Anthropic request's ``thinking`` and
    # ``anthropic-beta``, from dialects/): sent to that provider, left out for the others.
    native = (kwargs.get("native_params") or {}).get(provider) or {}
    body.update(native.get("body") or {})
    stream = bool(kwargs.get("stream"))
    stream_options = kwargs.get("stream_options") or {}
    options = {k: kwargs[k] for k in MOCK_OPTIONS if kwargs.get(k) is not None}
    if mocked:
        # A mocked call is answered locally whatever the model, under the model's provider name.
        call_adapter = get_adapter("mock")
    else:
        call_adapter = adapter
    creds = credentials(adapter, kwargs)
    if native.get("headers"):
        creds.extra_headers = {**native["headers"], **creds.extra_headers}  # the caller's own headers win
    call = Call(kind=kind, provider=provider, model=provider_model, params=body,
                creds=creds, stream=stream,
                include_usage=bool(stream_options.get("include_usage")), options=options)
    timeout = seconds(kwargs.get("timeout") or kwargs.get("request_timeout") or package_setting("request_timeout"))
    retries = kwargs.get("num_retries")
    if retries is None:
        retries = kwargs.get("max_retries")
    if retries is None:
        retries = package_setting("num_retries") or 0
    return Plan(adapter=call_adapter, call=call, requested_model=model, timeout=timeout,
                num_retries=int(retries), caller_wants_usage=call.include_usage,
                mocked=mocked, metadata=kwargs.get("metadata"))


def seconds(timeout: Any) -> float | None:
    """A timeout as seconds: a number, a numeric string, or an ``httpx.Timeout``
    (its read timeout, the one that bounds waiting for the model; else the longest set)."""
    if timeout is None or isinstance(timeout, (int, float)):
        return timeout
    if isinstance(timeout, str):
        return float(timeout)
    read = getattr(timeout, "read", None)
    if read is not None:
        return float(read)
    parts = [getattr(timeout, name, None) for name in ("connect", "write", "pool")]
    return max((float(p) for p in parts if p is not None), default=None)
