"""Hugging Face (``huggingface/<model>``): Inference Providers and TGI/TEI endpoints.

- Without ``api_base``, chat goes to the Inference Providers router,
  ``https://router.huggingface.co/v1/chat/completions`` (OpenAI's protocol),
  with ``HF_TOKEN`` (or ``HUGGINGFACE_API_KEY``) as the bearer token. As in
  LiteLLM, ``huggingface/<provider>/<org>/<model>`` picks the inference
  provider: the router's own spelling of that is ``<org>/<model>:<provider>``.
- With ``api_base`` (a dedicated Inference Endpoint or your own TGI server),
  chat goes to TGI's OpenAI-compatible ``{api_base}/v1/chat/completions``.
- Embeddings: ``{api_base}/embed`` on a TEI server, or, without
  ``api_base``, the router's hf-inference ``feature-extraction`` pipeline;
  both take ``{"inputs": [...]}`` and answer a bare array of vectors (no
  token counts: usage is counted with the tokenizer and marked estimated).

Errors are ``{"error": "..."}`` (TGI adds ``error_type``); TGI's input
validation error about token counts is a context-window error.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from ..errors import BadRequestError, ContextWindowExceededError, PolyrelayError
from . import _relay
from .base import CHAT, EMBEDDING, Call, HTTPRequest
from .openai import OpenAIAdapter, OpenAICompatible

ROUTER = "https://router.huggingface.co/v1"
_FEATURE_EXTRACTION = "https://router.huggingface.co/hf-inference/models/{model}/pipeline/feature-extraction"
# Inference Providers the router names (huggingface.co/docs/inference-providers), as LiteLLM accepts them first.
PROVIDERS = frozenset({
    "cerebras", "cohere", "fal-ai", "featherless-ai", "fireworks-ai", "groq", "hf-inference", "hyperbolic",
    "nebius", "novita", "nscale", "ovhcloud", "publicai", "replicate", "sambanova", "scaleway", "together",
    "zai-org", "auto",
})
_CONTEXT = ("must have less than", "must be <=", "exceeds the maximum", "context length")


class HuggingFaceAdapter(OpenAIAdapter):
    def __init__(self) -> None:
        super().__init__(OpenAICompatible("huggingface", ROUTER, ("HF_TOKEN", "HUGGINGFACE_API_KEY"),
                                          ("HUGGINGFACE_API_BASE", "HF_API_BASE"),
                                          kinds=frozenset({CHAT, EMBEDDING})))

    def build_request(self, call: Call) -> HTTPRequest:
        custom = (call.creds.api_base or "").rstrip("/")
        if call.kind == EMBEDDING:
            return self._embedding(call, custom)
        if not custom or custom == ROUTER:
            return super().build_request(_routed(call))
        request = super().build_request(call)
        request.url = _tgi_chat_url(custom)
        return request

    def _embedding(self, call: Call, custom: str) -> HTTPRequest:
        if custom and custom != ROUTER:
            url = custom if custom.endswith("/embed") else custom + "/embed"
        else:
            self.api_base(call)  # the router needs a token: say so before sending
            url = _FEATURE_EXTRACTION.format(model=quote(call.model, safe="/"))
        value = call.params.get("input")
        inputs = value if isinstance(value, list) else [value]
        if not inputs or not all(isinstance(i, str) for i in inputs):
            raise BadRequestError("huggingface embeddings take text (a string or a list of strings)",
                                  llm_provider=self.name, model=call.model, param="input")
        headers = {"Content-Type": "application/json"}
        if call.creds.api_key:
            headers["Authorization"] = f"Bearer {call.creds.api_key}"
        headers.update(call.creds.extra_headers)
        body: dict[str, Any] = {"inputs": inputs}
        for key in ("truncate", "normalize", "prompt_name", "truncation_direction"):  # TEI's own options
            if key in call.params:
                body[key] = call.params[key]
        return _relay.array_as_object(call, HTTPRequest("POST", url, headers, body))

    def parse_response(self, call: Call, data: Any) -> dict[str, Any]:
        if call.kind != EMBEDDING:
            return super().parse_response(call, data)
        vectors = data.get(_relay.ITEMS) if isinstance(data, dict) else None
        if not isinstance(vectors, list):
            raise BadRequestError("huggingface answered embeddings that are not an array", llm_provider=self.name,
                                  model=call.model, status_code=502)
        if vectors and not isinstance(vectors[0], list):
            vectors = [vectors]  # one input, one flat vector
        return {"object": "list", "model": call.model, "usage": None,
                "data": [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)]}

    def map_error(self, call: Call, status: int, body: bytes, headers: dict[str, str]) -> PolyrelayError:
        exc = super().map_error(call, status, body, headers)
        text = exc.message.lower()
        if status in (400, 413, 422) and "token" in text and any(m in text for m in _CONTEXT) \
                and not isinstance(exc, ContextWindowExceededError):
            return ContextWindowExceededError(exc.message, status_code=400, llm_provider=self.name, model=call.model,
                                              body=exc.body, headers=headers, code=exc.code)
        return exc


def _routed(call: Call) -> Call:
    """``<provider>/<org>/<model>`` as the router spells it, ``<org>/<model>:<provider>``."""
    head, sep, rest = call.model.partition("/")
    if sep and head in PROVIDERS and "/" in rest:
        from dataclasses import replace

        return replace(call, model=f"{rest}:{head}")
    return call


def _tgi_chat_url(base: str) -> str:
    if base.endswith("/chat/completions"):
        return base
    if base.endswith("/v1"):
        return base + "/chat/completions"
    return base + "/v1/chat/completions"
