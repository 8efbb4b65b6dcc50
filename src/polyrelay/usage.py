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
from .providers.base import CHAT, EMBEDDING, TEXT, Call


def normalize(raw: dict[str, Any] | None) -> dict[str, Any] | None:
    if not raw:
        return None
    usage = dict(raw)
    prompt = int(usage.get("prompt_tokens") or 0)
    completion = int(usage.get("completion_tokens") or 0)
    usage["prompt_tokens"], usage["completion_tokens"] = prompt, completion
    usage["total_tokens"] = prompt + completion
    details = dict(usage.get("prompt_tokens_details") or {})
    if details.get("cached_tokens") is None:
        # DeepSeek reports its cache as hit/miss counts beside OpenAI's fields.
        hit = usage.get("prompt_cache_hit_tokens")
        if hit is not None:
            details["cached_tokens"] = int(hit)
    if details:
        usage["prompt_tokens_details"] = details
    return usage


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
