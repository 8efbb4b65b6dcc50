"""Usage in one shape for every provider, computed in one place.

``prompt_tokens`` includes cached prompt tokens (OpenAI's definition), and
``prompt_tokens_details.cached_tokens`` says how many were cached, whatever
the provider called them. Provider-specific fields are kept beside. When a
provider reports nothing, usage is counted with the model's tokenizer and
the response is marked ``usage_estimated``.
"""

from __future__ import annotations

from typing import Any

from . import tokens
from .usage_checks import ANOMALIES, anomaly as _anomaly, count as _count
from .providers.base import CHAT, EMBEDDING, TEXT, Call


def normalize(raw: dict[str, Any] | None, provider: str | None = None) -> dict[str, Any] | None:
    """The provider's usage in polyrelay's shape, with bad values made harmless.

    A count that is negative, not a number or absurd becomes 0 (absurd: the
    largest count that is still plausible), and cached or cache-written
    tokens are capped at the prompt, each with one warning per
    (provider, problem) and a count in ``ANOMALIES``: the call succeeded, so
    its usage is kept and never raises. A ``total_tokens`` the provider
    reported is kept when it is a plausible count; otherwise it is the sum.
    """
    if not raw:
        return None
    who = provider or "unknown"
    usage = dict(raw)
    prompt = _count(usage.get("prompt_tokens"), who, "prompt_tokens")
    completion = _count(usage.get("completion_tokens"), who, "completion_tokens")
    details = dict(usage.get("prompt_tokens_details") or {})
    if provider == "xai":
        completion += _xai_reasoning(usage, prompt, completion)
    usage["prompt_tokens"], usage["completion_tokens"] = prompt, completion
    reported_total = usage.get("total_tokens")
    total = _count(reported_total, who, "total_tokens") if reported_total is not None else 0
    usage["total_tokens"] = total if total >= prompt + completion else prompt + completion
    if details.get("cached_tokens") is None:
        # DeepSeek reports its cache as hit/miss counts beside OpenAI's fields.
        hit = usage.get("prompt_cache_hit_tokens")
        if hit is not None:
            details["cached_tokens"] = _count(hit, who, "prompt_cache_hit_tokens")
    else:
        details["cached_tokens"] = _count(details["cached_tokens"], who, "cached_tokens")
    if (details.get("cached_tokens") or 0) > prompt:
        _anomaly(who, "cached_over_prompt", f"cached_tokens {details['cached_tokens']} > prompt_tokens {prompt}")
        details["cached_tokens"] = prompt
    cached = details.get("cached_tokens") or 0
    for name in ("cache_creation_input_tokens", "_cache_creation_input_tokens", "cache_read_input_tokens",
                 "_cache_read_input_tokens"):
        if name in usage and usage[name] is not None:
            usage[name] = min(_count(usage[name], who, name), prompt)
    written = usage.get("cache_creation_input_tokens") or 0
    if written + cached > prompt:
        _anomaly(who, "cache_writes_over_prompt", f"cache writes {written} + reads {cached} > prompt {prompt}")
        usage["cache_creation_input_tokens"] = usage["_cache_creation_input_tokens"] = prompt - cached
    if details:
        usage["prompt_tokens_details"] = details
    return usage


def _xai_reasoning(usage: dict[str, Any], prompt: int, completion: int) -> int:
    """xAI leaves reasoning tokens out of ``completion_tokens`` but bills them
    as output and counts them in its total: the tokens to add back. Added only
    when the provider's total says they are missing, so a fixed API is not
    counted twice."""
    reasoning = _count((usage.get("completion_tokens_details") or {}).get("reasoning_tokens"), "xai",
                       "reasoning_tokens")
    total = usage.get("total_tokens")
    if reasoning and (total is None or _count(total, "xai", "total_tokens") >= prompt + completion + reasoning):
        return reasoning
    return 0


def prompt_tokens(call: Call) -> int:
    params = call.params
    if call.kind == CHAT:
        return tokens.count_messages(params.get("messages") or [], call.model)
    if call.kind == TEXT:
        prompt = params.get("prompt") or ""
        if isinstance(prompt, list):
            return sum(tokens.count_text(p, call.model) if isinstance(p, str) else len(p) for p in prompt)
        return tokens.count_text(prompt, call.model)
    if call.kind == EMBEDDING:
        value = params.get("input") or ""
        items = value if isinstance(value, list) else [value]
        return sum(tokens.count_text(i, call.model) if isinstance(i, str) else len(i) for i in items)
    return 0


def estimate(call: Call, completion_text: str) -> dict[str, Any]:
    prompt = prompt_tokens(call)
    completion = tokens.count_text(completion_text, call.model)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def output_text(kind: str, data: dict[str, Any]) -> str:
    """All generated text in an OpenAI-format response dict (for estimates)."""
    parts: list[str] = []
    for choice in data.get("choices") or []:
        if kind == TEXT:
            parts.append(choice.get("text") or "")
            continue
        message = choice.get("message") or {}
        parts.append(tokens.content_text(message.get("content")))
        for tool_call in message.get("tool_calls") or []:
            function = tool_call.get("function") or {}
            parts.append((function.get("name") or "") + (function.get("arguments") or ""))
    return "".join(parts)
