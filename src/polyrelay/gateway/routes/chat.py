"""POST /chat/completions (and the Azure-style deployment route)."""

from __future__ import annotations

from ..schema import BOOL, LIST, OBJECT, SAMPLING_FIELDS, STR, STR_OR_OBJECT, TOKENS, check_messages, integer
from .llm import EndpointSpec

CHAT = EndpointSpec(
    name="chat_completions",
    router_method="acompletion",
    input_field="messages",
    input_check=lambda _field, value: check_messages(value),
    fields={
        **SAMPLING_FIELDS,
        "max_completion_tokens": TOKENS, "tools": LIST, "tool_choice": STR_OR_OBJECT, "parallel_tool_calls": BOOL,
        "response_format": OBJECT, "logprobs": BOOL, "top_logprobs": integer(0, 20), "functions": LIST,
        "function_call": STR_OR_OBJECT, "reasoning_effort": STR,
    },
    streams=True,
    batchable=True,
)
