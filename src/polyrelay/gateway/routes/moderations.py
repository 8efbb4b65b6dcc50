"""POST /moderations. ``model`` is optional, as in OpenAI's API."""

from __future__ import annotations

from typing import Any

from ..schema import check_text_input, invalid
from .llm import EndpointSpec


def check_moderation_input(field: str, value: Any) -> None:
    """Text as for embeddings, or OpenAI's multimodal parts (``{"type": "text" | "image_url", ...}``)."""
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        for i, part in enumerate(value):
            if not isinstance(part.get("type"), str):
                raise invalid(f"{field}[{i}]", "a content part object with a 'type'", part)
        return
    check_text_input(field, value)

MODERATIONS = EndpointSpec(
    name="moderations",
    router_method="amoderation",
    input_field="input",
    input_check=check_moderation_input,
    model_required=False,
)
