"""POST /completions: the legacy text-completion API (``choices[].text``)."""

from __future__ import annotations

from .llm import BOOL, INT, SAMPLING_FIELDS, STR, EndpointSpec, is_str_or_list

COMPLETIONS = EndpointSpec(
    name="completions",
    router_method="atext_completion",
    input_field="prompt",
    input_check=(is_str_or_list, "a string or an array"),
    fields={**SAMPLING_FIELDS, "best_of": INT, "echo": BOOL, "logprobs": INT, "suffix": STR},
    streams=True,
    batchable=True,
)
