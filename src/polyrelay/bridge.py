"""``text_completion`` on a chat-only provider, and ``completion`` on a
completion-only one: the request is rewritten for the other endpoint and
the answer (whole or chunk by chunk) rewritten back.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from . import tokens
from .errors import BadRequestError, UnsupportedParamsError
from .providers.base import CHAT, TEXT, Call

# Legacy-completions params with no chat equivalent.
_TEXT_ONLY = ("best_of", "echo", "suffix")


class TextOverChat:
    """A text completion served by a chat endpoint."""

    source_kind, target_kind = TEXT, CHAT

    @staticmethod
    def request(call: Call, drop_params: bool) -> Call:
        params = dict(call.params)
        prompt = params.pop("prompt", "")
        if isinstance(prompt, list):
            if len(prompt) != 1 or not isinstance(prompt[0], str):
                raise BadRequestError(
                    f"{call.provider} serves chat only: give one text prompt (token-id or multi-prompt "
                    "lists need a completions model)", llm_provider=call.provider, model=call.model, param="prompt")
            prompt = prompt[0]
        for key in _TEXT_ONLY + ("logprobs",):
            if key in params:
                if not drop_params:
                    raise UnsupportedParamsError(
                        f"{key!r} has no chat equivalent on {call.provider}; pass drop_params=True to drop it",
                        llm_provider=call.provider, model=call.model, param=key)
                params.pop(key)
        params["messages"] = [{"role": "user", "content": prompt}]
        return replace(call, kind=CHAT, params=params)

    @staticmethod
    def response(data: dict[str, Any]) -> dict[str, Any]:
        choices = [
            {"index": c.get("index", 0), "text": tokens.content_text((c.get("message") or {}).get("content")),
             "logprobs": None, "finish_reason": c.get("finish_reason")}
            for c in data.get("choices") or []
        ]
        return {**data, "object": "text_completion", "choices": choices}

    @staticmethod
    def chunk(data: dict[str, Any]) -> dict[str, Any]:
        choices = [
            {"index": c.get("index", 0), "text": (c.get("delta") or {}).get("content") or "",
             "logprobs": None, "finish_reason": c.get("finish_reason")}
            for c in data.get("choices") or []
        ]
        return {**data, "object": "text_completion", "choices": choices}


class ChatOverText:
    """A chat completion served by a legacy completions endpoint."""

    source_kind, target_kind = CHAT, TEXT

    @staticmethod
    def request(call: Call, drop_params: bool) -> Call:
        params = dict(call.params)
        messages = params.pop("messages", None) or []
        for key in ("tools", "tool_choice", "parallel_tool_calls", "response_format", "functions", "function_call"):
            if key in params:
                if not drop_params:
                    raise UnsupportedParamsError(
                        f"{call.model} is a completions model and cannot take {key!r}; pass drop_params=True "
                        "to drop it", llm_provider=call.provider, model=call.model, param=key)
                params.pop(key)
        params.pop("top_logprobs", None)
        if params.get("logprobs") is True:
            params["logprobs"] = 1
        params["prompt"] = "\n\n".join(tokens.content_text(m.get("content")) for m in messages)
        return replace(call, kind=TEXT, params=params)

    @staticmethod
    def response(data: dict[str, Any]) -> dict[str, Any]:
        choices = [
            {"index": c.get("index", 0), "message": {"role": "assistant", "content": c.get("text") or ""},
             "finish_reason": c.get("finish_reason"), "logprobs": None}
            for c in data.get("choices") or []
        ]
        return {**data, "object": "chat.completion", "choices": choices}

    @staticmethod
    def chunk(data: dict[str, Any]) -> dict[str, Any]:
        choices = [
            {"index": c.get("index", 0), "delta": {"content": c.get("text") or ""},
             "finish_reason": c.get("finish_reason"), "logprobs": None}
            for c in data.get("choices") or []
        ]
        return {**data, "object": "chat.completion.chunk", "choices": choices}


def bridge_for(kind: str, served: frozenset[str]):
    """The bridge to use, or None when the provider serves ``kind`` itself."""
    if kind in served:
        return None
    if kind == TEXT and CHAT in served:
        return TextOverChat
    if kind == CHAT and TEXT in served:
        return ChatOverText
    return None
