"""Azure OpenAI: OpenAI's protocol behind Azure's URLs and auth.

What differs from OpenAI, and so lives here:

- the URL names the deployment (the model after ``azure/``) and the API
  version: ``{api_base}/openai/deployments/{deployment}/chat/completions?api-version=...``;
- the key goes in an ``api-key`` header, or an Azure AD (Entra ID) token
  in ``Authorization: Bearer`` (the ``azure_ad_token`` argument);
- refusals by Azure's content filter (HTTP 400, code ``content_filter`` or
  inner code ``ResponsibleAIPolicyViolation``) are
  ContentPolicyViolationError;
- streams may open with a frame that has no choices, only
  ``prompt_filter_results``, and carry filter-annotation frames with an
  empty delta: neither is content, and neither is usage.

Bodies, answers and chunks are otherwise OpenAI's, parsed by OpenAIAdapter.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from ..errors import AuthenticationError, BadRequestError, ContentPolicyViolationError, PolyrelayError
from .base import CHAT, EMBEDDING, TEXT, Call, HTTPRequest, StreamEvent, StreamState
from .openai import OpenAIAdapter, OpenAICompatible

# The newest GA version when this was written; AZURE_API_VERSION or
# api_version= choose another. It accepts stream_options.include_usage.
DEFAULT_API_VERSION = "2024-10-21"

_PATHS = {CHAT: "/chat/completions", TEXT: "/completions", EMBEDDING: "/embeddings"}
_CONTENT_FILTER_CODES = frozenset({"content_filter", "ResponsibleAIPolicyViolation"})

ROW = OpenAICompatible("azure", None, ("AZURE_API_KEY", "AZURE_OPENAI_API_KEY"),
                       ("AZURE_API_BASE", "AZURE_OPENAI_ENDPOINT"), kinds=frozenset({CHAT, TEXT, EMBEDDING}))


class AzureAdapter(OpenAIAdapter):
    ad_token_env = ("AZURE_AD_TOKEN",)
    api_version_env = ("AZURE_API_VERSION",)

    def __init__(self) -> None:
        super().__init__(ROW)

    def build_request(self, call: Call) -> HTTPRequest:
        creds = call.creds
        params = call.params
        ad_token = creds.ad_token
        base = (creds.api_base or "").rstrip("/")
        if not base:
            raise BadRequestError("azure needs an api_base (https://<resource>.openai.azure.com): pass "
                                  "api_base= or set AZURE_API_BASE", llm_provider=self.name, model=call.model)
        if not creds.api_key and not ad_token:
            raise AuthenticationError("No credential for azure: pass api_key= (or set AZURE_API_KEY) or "
                                      "azure_ad_token=", llm_provider=self.name, model=call.model)
        headers = {"Content-Type": "application/json"}
        if ad_token:
            headers["Authorization"] = f"Bearer {ad_token}"  # a token wins over a key, as in Azure's SDKs
        else:
            headers["api-key"] = str(creds.api_key)
        headers.update(creds.extra_headers)
        if base.endswith("/openai"):
            base = base[: -len("/openai")]  # people paste the endpoint with or without it
        version = creds.api_version or DEFAULT_API_VERSION
        url = (f"{base}/openai/deployments/{quote(call.model, safe='')}{_PATHS[call.kind]}"
               f"?api-version={quote(version, safe='')}")
        # Azure routes by the deployment in the URL; "model" in the body is
        # what the OpenAI SDKs send too, and Azure ignores it.
        body: dict[str, Any] = {"model": call.model, **params}
        if call.stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}  # exact cost even if the caller did not ask
        return HTTPRequest("POST", url, headers, body, stream=call.stream)

    def parse_stream_event(self, state: StreamState, event: StreamEvent) -> list[dict[str, Any]]:
        out = []
        for chunk in super().parse_stream_event(state, event):
            choices = chunk.get("choices")
            if choices:
                # Filter annotations arrive as choices with an empty delta and no finish.
                choices = [c for c in choices if c.get("delta") or c.get("finish_reason") or "text" in c]
                if not choices:
                    continue
                chunk["choices"] = choices
            elif not chunk.get("usage"):
                continue  # the prompt_filter_results frame: no content, no usage
            out.append(chunk)
        return out

    def map_error(self, call: Call, status: int, body: bytes, headers: dict[str, str]) -> PolyrelayError:
        exc = super().map_error(call, status, body, headers)
        if status == 400 and not isinstance(exc, ContentPolicyViolationError) and _filtered(exc.body):
            return ContentPolicyViolationError(exc.message, status_code=400, llm_provider=self.name,
                                               model=call.model, body=exc.body, headers=headers, code=exc.code,
                                               param=exc.param)
        return exc


def _filtered(body: Any) -> bool:
    """Whether an Azure error body is a content-filter refusal."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return False
    inner = error.get("innererror")
    return error.get("code") in _CONTENT_FILTER_CODES or (
        isinstance(inner, dict) and inner.get("code") in _CONTENT_FILTER_CODES)
