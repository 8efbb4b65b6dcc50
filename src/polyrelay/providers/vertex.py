"""Google Vertex AI (``vertex_ai/<model>``): Gemini and Claude on Google Cloud.

One prefix, three APIs behind one URL scheme
``{base}/v1/projects/{project}/locations/{location}/publishers/{publisher}/models/{model}:{method}``
(base ``https://{location}-aiplatform.googleapis.com``; the ``global``
location's host is ``aiplatform.googleapis.com``):

- Gemini (``publishers/google``): ``:generateContent`` and
  ``:streamGenerateContent?alt=sse``, the same bodies, answers, stream
  events and usageMetadata as the Gemini API, so they are translated by
  gemini.py's adapter;
- Claude (``publishers/anthropic``, models named ``claude-*``):
  ``:rawPredict`` and ``:streamRawPredict``, Anthropic's Messages API with
  ``anthropic_version: vertex-2023-10-16`` in the body instead of a header
  and no ``model`` field (the URL names it), translated by anthropic.py's;
- embeddings (``:predict``): ``{"instances": [{"content": ...}]}`` in,
  ``predictions[].embeddings.values`` and ``statistics.token_count`` out;
- open models served by Google (model-as-a-service, named
  ``publisher/model``: ``meta/llama-4-maverick-17b-128e-instruct-maas``,
  ``deepseek-ai/deepseek-r1-0528-maas``, ...): Vertex's OpenAI-compatible
  ``endpoints/openapi/chat/completions``, OpenAI's body and answers.

Auth is a Google OAuth access token (gcp_auth.py), fetched before each
attempt (``authorize``) and cached until shortly before it expires.
Project and location come from ``vertex_project`` / ``vertex_location`` or
``VERTEXAI_PROJECT`` / ``VERTEXAI_LOCATION`` (the project also from the
service account's ``project_id``); ``api_base`` replaces the host (tests,
Private Service Connect endpoints).
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any
from urllib.parse import quote

from ..errors import BadRequestError, PolyrelayError, UnsupportedParamsError
from ..usage_checks import count
from . import gcp_auth
from .anthropic import UNSUPPORTED as ANTHROPIC_UNSUPPORTED
from .anthropic import AnthropicAdapter
from .base import CHAT, EMBEDDING, OPENAI_ONLY_PARAMS, Adapter, Call, HTTPRequest, StreamEvent, StreamState
from .gemini import GeminiAdapter
from .openai import OpenAIAdapter, OpenAICompatible

ANTHROPIC_VERSION = "vertex-2023-10-16"
DEFAULT_LOCATION = "us-central1"
# Where the project goes when only the credential names it (known once it is loaded, in authorize()).
_PROJECT_SLOT = "{project}"
# Arguments that say where to call; not request parameters, so never in the body.
_PLACE_ARGS = ("vertex_project", "vertex_location", "vertex_ai_project", "vertex_ai_location")
_EMBED_CONSUMED = frozenset({"input", "dimensions", "encoding_format", "user", "task_type", "title"})


class VertexAdapter(Adapter):
    name = "vertex_ai"
    kinds = frozenset({CHAT, EMBEDDING})
    default_api_base = "https://aiplatform.googleapis.com"
    # The credential JSON (or its path) is a secret: kept off the body, scrubbed from every error.
    credential_args = ("vertex_credentials",)
    # Params both publishers reject; the rest depend on the model (unsupported_params_for).
    unsupported_params = OPENAI_ONLY_PARAMS & ANTHROPIC_UNSUPPORTED

    def __init__(self) -> None:
        self.gemini = GeminiAdapter()
        self.anthropic = AnthropicAdapter()
        self.openai = OpenAIAdapter(OpenAICompatible("vertex_ai", None, key_required=False))

    def _for(self, model: str) -> Adapter:
        if is_claude(model):
            return self.anthropic
        return self.openai if is_open_model(model) else self.gemini

    def unsupported_params_for(self, model: str) -> frozenset[str]:
        return self._for(model).unsupported_params

    # -- requests -----------------------------------------------------------

    def build_request(self, call: Call) -> HTTPRequest:
        params = {k: v for k, v in call.params.items() if k not in _PLACE_ARGS}
        project = _setting(call, "vertex_project", "vertex_ai_project", "VERTEXAI_PROJECT", "GOOGLE_CLOUD_PROJECT")
        location = _setting(call, "vertex_location", "vertex_ai_location", "VERTEXAI_LOCATION") or DEFAULT_LOCATION
        call = dataclasses.replace(call, params=params)
        claude = is_claude(call.model)
        if call.kind == EMBEDDING and (claude or is_open_model(call.model)):
            raise BadRequestError(f"{call.model} on vertex_ai does not make embeddings", llm_provider=self.name,
                                  model=call.model)
        host = call.creds.api_base or (self.default_api_base if location == "global"
                                       else f"https://{location}-aiplatform.googleapis.com")
        place = (f"{host.rstrip('/')}/v1/projects/{quote(project, safe='') if project else _PROJECT_SLOT}"
                 f"/locations/{quote(location, safe='')}")
        headers = {"Content-Type": "application/json", **call.creds.extra_headers}
        if is_open_model(call.model):
            body = self.openai.build_request(dataclasses.replace(call, creds=dataclasses.replace(
                call.creds, api_base=place, api_key=None))).json  # OpenAI's body: model, stream, stream_options
            return HTTPRequest("POST", place + "/endpoints/openapi/chat/completions", headers, body,
                               stream=call.stream)
        root = (f"{place}/publishers/{'anthropic' if claude else 'google'}"
                f"/models/{quote(call.model.removeprefix('models/'), safe='@.-_')}")
        if call.kind == EMBEDDING:
            return HTTPRequest("POST", root + ":predict", headers, _embedding_body(call))
        if claude:
            body = self.anthropic.request_body(call)
            body.pop("model", None)  # the URL names the model; Vertex refuses it in the body
            body["anthropic_version"] = ANTHROPIC_VERSION
            method = ":streamRawPredict" if call.stream else ":rawPredict"
            return HTTPRequest("POST", root + method, headers, body, stream=call.stream)
        body = self.gemini._chat_body(call)
        if call.stream:
            return HTTPRequest("POST", root + ":streamGenerateContent?alt=sse", headers, body, stream=True)
        return HTTPRequest("POST", root + ":generateContent", headers, body)

    async def authorize(self, call: Call, request: HTTPRequest) -> HTTPRequest:
        source = _credentials_source(call)
        token = await gcp_auth.access_token(source, provider=self.name, model=call.model)
        call.creds.extra["_access_token"] = token.value  # scrubbed from any error that echoes it
        url = request.url
        if _PROJECT_SLOT in url:
            if not token.project:
                raise BadRequestError("vertex_ai needs a project: pass vertex_project= or set VERTEXAI_PROJECT "
                                      "(the credentials name none)", llm_provider=self.name, model=call.model,
                                      param="vertex_project")
            url = url.replace(_PROJECT_SLOT, quote(token.project, safe=""), 1)
        headers = {**request.headers, "Authorization": f"Bearer {token.value}"}
        return dataclasses.replace(request, url=url, headers=headers)

    # -- answers ------------------------------------------------------------

    def parse_response(self, call: Call, data: Any) -> dict[str, Any]:
        if call.kind == EMBEDDING:
            return _embedding_response(call, data)
        return self._for(call.model).parse_response(call, data)

    def parse_stream_event(self, state: StreamState, event: StreamEvent) -> list[dict[str, Any]]:
        return self._for(state.call.model).parse_stream_event(state, event)

    def map_error(self, call: Call, status: int, body: bytes, headers: dict[str, str]) -> PolyrelayError:
        if status == 401:
            gcp_auth.forget(_credentials_source(call))  # the next attempt fetches a new token
        # Vertex answers in Google's error shape {"error": {"code", "message", "status"}}, except
        # that the Claude endpoints pass Anthropic's own {"type": "error", "error": {"type", ...}} on.
        anthropic_shaped = is_claude(call.model) and b'"type"' in body and b'"status"' not in body
        # Google's shape maps the same way through gemini.py's mapper whichever model answered.
        exc = (self.anthropic if anthropic_shaped else self.gemini).map_error(call, status, body, headers)
        exc.llm_provider = self.name
        return exc


def is_claude(model: str) -> bool:
    return model.lower().startswith("claude")


def is_open_model(model: str) -> bool:
    """``publisher/model`` names an open model Google serves behind its OpenAI-compatible endpoint."""
    return "/" in model.removeprefix("models/")


def _credentials_source(call: Call) -> str | None:
    return call.creds.extra.get("vertex_credentials") or os.environ.get("VERTEXAI_CREDENTIALS") or None


def _setting(call: Call, arg: str, alias: str, *env: str) -> str | None:
    value = call.params.get(arg) or call.params.get(alias)
    if value:
        return str(value)
    for name in env:
        if os.environ.get(name):
            return os.environ[name]
    return None


def _embedding_body(call: Call) -> dict[str, Any]:
    params = call.params
    value = params.get("input")
    texts = value if isinstance(value, list) else [value]
    if not texts or not all(isinstance(t, str) for t in texts):
        raise BadRequestError("vertex_ai embeds text only (a string or a list of strings)", llm_provider="vertex_ai",
                              model=call.model, param="input")
    if params.get("encoding_format") not in (None, "float"):
        raise UnsupportedParamsError("vertex_ai returns float embeddings only (encoding_format='float')",
                                     llm_provider="vertex_ai", model=call.model, param="encoding_format")
    extra = {k: params[k] for k in ("task_type", "title") if params.get(k) is not None}
    parameters = {k: v for k, v in params.items() if k not in _EMBED_CONSUMED}  # autoTruncate, ... as given
    if params.get("dimensions") is not None:
        parameters["outputDimensionality"] = params["dimensions"]
    body: dict[str, Any] = {"instances": [{"content": text, **extra} for text in texts]}
    if parameters:
        body["parameters"] = parameters
    return body


def _embedding_response(call: Call, data: Any) -> dict[str, Any]:
    if not isinstance(data, dict) or not isinstance(data.get("predictions"), list):
        raise BadRequestError("vertex_ai answered an embedding request without predictions",
                              llm_provider="vertex_ai", model=call.model, status_code=502)
    vectors, tokens = [], 0
    for index, prediction in enumerate(data["predictions"]):
        found = prediction.get("embeddings") or {}
        vectors.append({"object": "embedding", "index": index, "embedding": found.get("values") or []})
        tokens += count((found.get("statistics") or {}).get("token_count"), "vertex_ai", "token_count")
    return {"object": "list", "model": call.model, "data": vectors,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}
