"""POST /moderations. ``model`` is optional, as in OpenAI's API."""

from __future__ import annotations

from .llm import EndpointSpec, is_str_or_list

MODERATIONS = EndpointSpec(
    name="moderations",
    router_method="amoderation",
    input_field="input",
    input_check=(is_str_or_list, "a string or an array"),
    model_required=False,
)
