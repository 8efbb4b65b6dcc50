"""POST /completions: the legacy text-completion API (``choices[].text``)."""

from __future__ import annotations

from ..schema import BOOL, MAX_N, SAMPLING_FIELDS, STR, check_text_input, integer
from .llm import EndpointSpec

COMPLETIONS = EndpointSpec(
    name="completions",
    router_method="atext_completion",
    input_field="prompt",
    input_check=check_text_input,
    fields={**SAMPLING_FIELDS, "best_of": integer(1, MAX_N), "echo": BOOL, "logprobs": integer(0, 5),
            "suffix": STR},
    streams=True,
    batchable=True,
)
