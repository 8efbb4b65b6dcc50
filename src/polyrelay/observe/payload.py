"""The standard logging payload: one dict per call with LiteLLM's
``StandardLoggingPayload`` fields, handed to every sink as
``kwargs["standard_logging_object"]``.

``Record`` is what the call path keeps (references and timestamps, nothing
copied); ``build`` turns it into the payload once, on the dispatcher's
loop, after the call has been answered. With message logging turned off
(``polyrelay.turn_off_message_logging``, or ``metadata.turn_off_message_logging``
on the request) the prompt and the answer are replaced by ``REDACTED``
everywhere the payload carries them; usage and cost stay.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

REDACTED = "redacted-by-polyrelay"
CALL_TYPES = {"chat": "acompletion", "text": "atext_completion", "embedding": "aembedding",
              "moderation": "amoderation"}
# Request-metadata keys the gateway adds about the caller (LiteLLM's names).
KEY_FIELDS = ("user_api_key_hash", "user_api_key_alias", "user_api_key_team_id", "user_api_key_user_id",
              "user_api_key_team_alias", "user_api_key_org_id", "user_api_key_max_budget", "user_api_key_spend",
              "user_api_key_team_max_budget", "user_api_key_team_spend")
# A call with no gateway caller (the SDK's): the key fields, all unknown. The gateway's
# caller (gateway/observing.py) hands them over as one dict, ``key_fields``, in this order.
_NO_KEY_FIELDS = dict.fromkeys(KEY_FIELDS)
# Keyword arguments that are never model parameters in the payload.
_NOT_PARAMS = frozenset({"api_key", "api_base", "base_url", "metadata", "litellm_metadata", "polyrelay_log",
                         "litellm_call_id", "model_id", "model_group", "polyrelay_wire", "allowed_model_groups",
                         "headers", "extra_headers", "azure_ad_token", "aws_secret_access_key", "aws_access_key_id",
                         "aws_session_token", "vertex_credentials", "token", "user_config", "mock_response", "messages",
                         "input", "prompt", "stream_options", "proxy_server_request", "client"})
# What the payload carries of the call's parameters and hidden params (a client object
# or a callable is not for a log); checked inline, a function call per value cost more.
_PLAIN = (str, int, float, bool, list, dict, type(None))


@dataclass(slots=True)
class Record:
    """One call as it happened. ``status`` is "success" or "failure"."""

    kind: str
    model: str
    call_id: str
    kwargs: dict[str, Any]  # the caller's keyword arguments (not copied)
    payload: dict[str, Any]  # messages / prompt / input
    start: float  # epoch seconds
    end: float = 0.0
    first_token: float | None = None  # epoch seconds of the first streamed chunk
    status: str = "success"
    response: Any = None  # the answer (model, or wire dict), or None on failure
    error: BaseException | None = None
    hidden: dict[str, Any] = field(default_factory=dict)
    usage: dict[str, Any] | None = None
    stream: bool = False
    redact: bool = False
    built: dict[str, Any] | None = None
    wire: bytes | None = None  # ``built`` encoded once for the sink process (sink_process.py)

    def standard_logging_object(self) -> dict[str, Any]:
        if not self.end:
            return build(self)  # before the call ended (log_pre_api_call): not final, not kept
        if self.built is None:
            self.built = build(self)
        return self.built


def message_logging_off(kwargs: dict[str, Any], default: bool) -> bool:
    metadata = kwargs.get("metadata")
    if isinstance(metadata, dict) and metadata.get("turn_off_message_logging") is not None:
        return bool(metadata["turn_off_message_logging"])
    return default


def as_dict(obj: Any) -> Any:
    if obj is None or isinstance(obj, (dict, list, str)):
        return obj
    dump = getattr(obj, "model_dump", None)
    return dump() if dump is not None else obj


def build(rec: Record) -> dict[str, Any]:
    kwargs = rec.kwargs
    hidden = rec.hidden or {}
    response = as_dict(rec.response)
    usage = rec.usage or (response.get("usage") if isinstance(response, dict) else None) or {}
    usage = as_dict(usage) or {}
    details = usage.get("prompt_tokens_details") or {}
    request_metadata = kwargs.get("metadata") if isinstance(kwargs.get("metadata"), dict) else {}
    caller = kwargs.get("polyrelay_log") or {}
    user = kwargs.get("user")
    metadata = {**request_metadata, **(caller.get("key_fields") or _NO_KEY_FIELDS), "end_user": user,
                "requester_metadata": request_metadata, "requester_ip_address": caller.get("requester_ip_address"),
                "applied_guardrails": caller.get("applied_guardrails") or [], "user_api_key_end_user_id": user}
    error = rec.error
    messages = rec.payload.get("messages", rec.payload.get("prompt", rec.payload.get("input")))
    if rec.redact:
        messages = REDACTED
        response = _redacted_response(response)
    elif caller.get("log_mask") is not None:  # logging_only guardrails: a masked copy, the call untouched
        messages, response = _masked(caller["log_mask"], rec.payload, messages, response)
    tags = request_metadata.get("tags") if isinstance(request_metadata.get("tags"), list) else []
    end_time = rec.end or rec.start
    model_name = (response.get("model") if isinstance(response, dict) else None) or rec.model
    return {
        "id": rec.call_id,
        "trace_id": caller.get("trace_id") or rec.call_id,
        "call_type": CALL_TYPES.get(rec.kind, rec.kind),
        "stream": rec.stream,
        "status": rec.status,
        "response_cost": hidden.get("response_cost") or 0.0,
        "custom_llm_provider": hidden.get("custom_llm_provider") or getattr(error, "llm_provider", None),
        "prompt_tokens": usage.get("prompt_tokens") or 0,
        "completion_tokens": usage.get("completion_tokens") or 0,
        "total_tokens": usage.get("total_tokens") or 0,
        "cached_tokens": (details.get("cached_tokens") or 0) if isinstance(details, dict) else 0,
        "startTime": rec.start,
        "endTime": end_time,
        "completionStartTime": rec.first_token if rec.first_token is not None else end_time,
        "response_time": end_time - rec.start,
        "model": model_name,
        "model_group": kwargs.get("model_group") or rec.model,
        "model_id": hidden.get("model_id") or kwargs.get("model_id") or getattr(error, "model_id", None),
        "api_base": hidden.get("api_base") or "",
        "cache_hit": bool(hidden.get("cache_hit")),
        "cache_key": hidden.get("cache_key"),
        "metadata": metadata,
        "request_tags": tags,
        "end_user": kwargs.get("user") or "",
        "messages": messages,
        "response": response if rec.status == "success" else None,
        "model_parameters": {k: v for k, v in kwargs.items() if k not in _NOT_PARAMS and isinstance(v, _PLAIN)},
        "error_str": _error_text(error, rec.redact) if error is not None else None,
        "error_information": None if error is None else {
            "error_class": type(error).__name__, "error_code": str(getattr(error, "status_code", "") or ""),
            "error_message": _error_text(error, rec.redact), "llm_provider": getattr(error, "llm_provider", None)},
        "hidden_params": {k: v for k, v in hidden.items() if isinstance(v, _PLAIN)},
        "guardrail_information": caller.get("guardrail_information") or request_metadata.get("guardrail_information"),
        # polyrelay's own: the gateway request around the call (for the otel sink's spans)
        "gateway": caller.get("gateway"),
    }


def _masked(mask: Any, payload: dict[str, Any], messages: Any, response: Any) -> tuple[Any, Any]:
    field = next((name for name in ("messages", "prompt", "input") if name in payload), None)
    if field is not None:
        messages = mask({field: messages})[field]
    if isinstance(response, dict):
        response = mask(response)
    return messages, response


def _error_text(error: BaseException, redact: bool) -> str:
    from ..redact import scrub

    text = scrub(str(getattr(error, "message", None) or error))
    return f"{type(error).__name__} (message redacted)" if redact and _echoes_content(error) else text


def _echoes_content(error: BaseException) -> bool:
    # A provider's error body may quote the prompt (content-policy refusals do); with
    # message logging off only the class and status are kept for those.
    return getattr(error, "status_code", None) in (400, 422) or "content" in type(error).__name__.lower()


def _redacted_response(response: Any) -> Any:
    if not isinstance(response, dict):
        return REDACTED if response is not None else None
    out = dict(response)
    if "choices" in out:
        out["choices"] = [_redact_choice(c) for c in out.get("choices") or ()]
    if "data" in out:
        out["data"] = REDACTED
    return out


def _redact_choice(choice: Any) -> Any:
    if not isinstance(choice, dict):
        return REDACTED
    choice = dict(choice)
    if "message" in choice:
        choice["message"] = {"role": (choice["message"] or {}).get("role", "assistant"), "content": REDACTED}
    if "delta" in choice:
        choice["delta"] = {"content": REDACTED}
    if "text" in choice:
        choice["text"] = REDACTED
    return choice
