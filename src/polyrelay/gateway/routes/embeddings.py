"""POST /embeddings."""

from __future__ import annotations

from ..schema import check_text_input, integer, typed
from .llm import EndpointSpec

EMBEDDINGS = EndpointSpec(
    name="embeddings",
    router_method="aembedding",
    input_field="input",
    input_check=check_text_input,
    fields={"encoding_format": typed(str, "a string"), "dimensions": integer(1, 65_536)},
)
