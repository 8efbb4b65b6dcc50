"""POST /embeddings."""

from __future__ import annotations

from .llm import INT, STR, EndpointSpec, is_str_or_list

EMBEDDINGS = EndpointSpec(
    name="embeddings",
    router_method="aembedding",
    input_field="input",
    input_check=(is_str_or_list, "a string or an array"),
    fields={"encoding_format": STR, "dimensions": INT},
)
