"""What goes in a cache key, and what never does.

A key is ``<namespace>:<sha256>`` (or the bare hash without a namespace),
the hash taken over a canonical JSON of:

- the call type (chat, text completion, embedding) and the model as the
  caller named it (the gateway's model group, the SDK's model string);
- the input (``messages`` / ``prompt`` / one embedding ``input`` item);
- every other argument that changes the output: temperature, top_p,
  max_tokens, tools, tool_choice, response_format, seed, stop, n,
  dimensions, encoding_format, provider-specific parameters, a mock
  answer, and a client-side ``api_base`` (a different server may answer
  differently; it is an address, not a secret).

Never in a key: ``metadata``, ``user``, credentials (``api_key``, tokens,
headers), the call id, retries, timeouts, fallbacks, ``stream`` and
``stream_options`` (a stored answer is replayed as a stream when one is
asked for), and the cache controls themselves. Two callers with different
keys asking the same thing of the same model group share the entry; that
is what a shared cache is for.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

# Arguments that do not change what the model answers, or must never be
# stored (credentials). Anything not listed goes into the key: an unknown
# provider parameter splitting the cache is safe, sharing across it is not.
NOT_IN_KEY = frozenset({
    # who is asking and how to reach the provider
    "api_key", "azure_ad_token", "azure_ad_token_provider", "aws_access_key_id", "aws_secret_access_key",
    "aws_session_token", "vertex_credentials", "extra_headers", "headers", "client", "shared_session",
    "user", "metadata", "litellm_metadata", "proxy_server_request", "user_api_key", "api_version",
    # how the call is made, not what it asks
    "stream", "stream_options", "timeout", "request_timeout", "stream_timeout", "num_retries", "max_retries",
    "fallbacks", "context_window_fallbacks", "content_policy_fallbacks", "litellm_call_id", "logger_fn",
    "litellm_logging_obj", "model_id", "model_info", "model_list", "verbose", "drop_params", "polyrelay_wire",
    "allowed_model_groups", "guardrails", "tags",
    # the cache's own controls
    "cache", "caching", "no-cache", "no-store",
})


def cache_key(kind: str, model: str, payload: dict[str, Any], kwargs: dict[str, Any],
              namespace: str | None = None) -> str:
    """The key for one call: ``payload`` is its input field, ``kwargs`` the rest."""
    parts: dict[str, Any] = {"call_type": kind, "model": model, **payload}
    for name, value in kwargs.items():
        if name not in NOT_IN_KEY and value is not None:
            parts[name] = value
    digest = hashlib.sha256(orjson.dumps(parts, option=orjson.OPT_SORT_KEYS, default=_plain)).hexdigest()
    return f"{namespace}:{digest}" if namespace else digest


def _plain(value: Any) -> Any:
    """Pydantic models (messages as objects) and other values, in a stable form."""
    dump = getattr(value, "model_dump", None)
    if dump is not None:
        return dump()
    return repr(value)
