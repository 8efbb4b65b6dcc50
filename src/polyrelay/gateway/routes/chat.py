"""POST /chat/completions (and the Azure-style deployment route)."""

from __future__ import annotations

from .llm import BOOL, INT, LIST, OBJECT, SAMPLING_FIELDS, STR, STR_OR_OBJECT, EndpointSpec, is_messages

CHAT = EndpointSpec(
    name="chat_completions",
    router_method="acompletion",
    input_field="messages",
    input_check=(is_messages, "a non-empty array of message objects"),
    fields={
        **SAMPLING_FIELDS,
        "max_completion_tokens": INT, "tools": LIST, "tool_choice": STR_OR_OBJECT, "parallel_tool_calls": BOOL,
        "response_format": OBJECT, "logprobs": BOOL, "top_logprobs": INT, "functions": LIST,
        "function_call": STR_OR_OBJECT, "reasoning_effort": STR,
    },
    streams=True,
    batchable=True,
)
