"""POST /images/generations and POST /rerank, and the media routes not built yet.

Images and rerank are ``LLMEndpoint`` specs like embeddings: the same auth,
model allow-lists, budgets, rate limits, spend records (with the call id)
and Router as chat; only the fields checked differ. Rerank takes Cohere's
request (``query``, ``documents``, ``top_n``, ``return_documents``).

Audio translations, listing files and batches, and deleting files are not built yet: their
routes answer an OpenAI-format 501 saying so, never a fake success or a
bare 404 that would read as a typo.
"""

from __future__ import annotations

from typing import Any

from ...errors import APIError
from ..http import send_error
from ..schema import integer, invalid, typed
from .llm import EndpointSpec

MAX_PROMPT_CHARS = 32_000  # gpt-image-1's limit, the longest OpenAI documents
MAX_DOCUMENTS = 10_000


def check_prompt(field: str, value: Any) -> None:
    if not isinstance(value, str) or not value:
        raise invalid(field, "a non-empty string", value)
    if len(value) > MAX_PROMPT_CHARS:
        raise invalid(field, f"a string of at most {MAX_PROMPT_CHARS} characters", value)


def check_query(field: str, value: Any) -> None:
    if not isinstance(value, str) or not value:
        raise invalid(field, "a non-empty string", value)


def check_documents(value: Any) -> str | None:
    if not isinstance(value, list) or not value or len(value) > MAX_DOCUMENTS:
        return f"a list of 1 to {MAX_DOCUMENTS} strings or objects"
    if not all(isinstance(d, (str, dict)) for d in value):
        return f"a list of 1 to {MAX_DOCUMENTS} strings or objects"
    return None


STR = typed(str, "a string")
IMAGES = EndpointSpec(
    name="image_generation",
    router_method="aimage_generation",
    input_field="prompt",
    input_check=check_prompt,
    fields={"n": integer(1, 10), "size": STR, "quality": STR, "response_format": STR, "style": STR,
            "background": STR, "output_format": STR},
)
RERANK = EndpointSpec(
    name="rerank",
    router_method="arerank",
    input_field="query",
    input_check=check_query,
    fields={"documents": check_documents, "top_n": integer(1, MAX_DOCUMENTS),
            "return_documents": typed(bool, "a boolean"), "max_tokens_per_doc": integer(1),
            "max_chunks_per_doc": integer(1)},
)


class not_built:  # noqa: N801 (named like the route functions beside it)
    """A raw ASGI endpoint (Starlette calls a class instance as an app, not as a request handler)."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.__name__ = what.replace(" ", "_")

    async def __call__(self, scope, receive, send) -> None:
        await send_error(send, APIError(f"{self.what} is not available on this gateway yet (polyrelay issue 21): "
                                        "images and rerank are; this route answers 501 until it is built.",
                                        status_code=501, code="not_implemented"), scope)


# (path, methods, what): answered 501 until built.
NOT_BUILT = (
    ("/audio/translations", ["POST"], "audio translation"),
    ("/files", ["GET"], "listing files"),
    ("/files/{file_id}", ["DELETE"], "deleting files"),
    ("/batches", ["GET"], "listing batches"),
)
