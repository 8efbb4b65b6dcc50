"""Azure AI Foundry / Azure AI model inference (``azure_ai/<model>``).

OpenAI's bodies, answers and SSE chunks (parsed by OpenAIAdapter); what
differs is where and how:

- serverless endpoints (``https://<name>.<region>.models.ai.azure.com``)
  take ``{api_base}/chat/completions``; a Foundry resource
  (``https://<resource>.services.ai.azure.com``) serves every deployed model
  under ``/models``, chosen by ``model`` in the body, with an
  ``api-version`` query (``2024-05-01-preview`` unless ``api_version=`` /
  ``AZURE_AI_API_VERSION`` says otherwise);
- the key goes in an ``api-key`` header (an Entra ID token, ``azure_ad_token=``,
  in ``Authorization: Bearer``);
- content-filter refusals are ContentPolicyViolationError, as for Azure OpenAI.
"""

from __future__ import annotations

from urllib.parse import quote

from ..errors import AuthenticationError, BadRequestError, ContentPolicyViolationError, PolyrelayError
from .azure import _filtered
from .base import CHAT, EMBEDDING, Call, HTTPRequest
from .openai import OpenAIAdapter, OpenAICompatible

DEFAULT_API_VERSION = "2024-05-01-preview"
_PATHS = {CHAT: "/chat/completions", EMBEDDING: "/embeddings"}

ROW = OpenAICompatible("azure_ai", None, ("AZURE_AI_API_KEY",), ("AZURE_AI_API_BASE",),
                       kinds=frozenset({CHAT, EMBEDDING}))


class AzureAIAdapter(OpenAIAdapter):
    # No AZURE_AD_TOKEN from the environment: that one is Azure OpenAI's, and would win over this key.
    api_version_env = ("AZURE_AI_API_VERSION",)

    def __init__(self) -> None:
        super().__init__(ROW)

    def build_request(self, call: Call) -> HTTPRequest:
        creds = call.creds
        base = (creds.api_base or "").rstrip("/")
        if not base:
            raise BadRequestError("azure_ai needs the endpoint of the deployment or Foundry resource: pass "
                                  "api_base= or set AZURE_AI_API_BASE", llm_provider=self.name, model=call.model)
        if not creds.api_key and not creds.ad_token:
            raise AuthenticationError("No credential for azure_ai: pass api_key= (or set AZURE_AI_API_KEY) or "
                                      "azure_ad_token=", llm_provider=self.name, model=call.model)
        request = super().build_request(call)  # OpenAI's body (model, stream, stream_options) and headers
        headers = {k: v for k, v in request.headers.items() if k != "Authorization"}
        if creds.ad_token:
            headers["Authorization"] = f"Bearer {creds.ad_token}"
        else:
            headers["api-key"] = str(creds.api_key)
        headers.update(creds.extra_headers)
        for tail in ("/chat/completions", "/embeddings"):
            base = base.removesuffix(tail)  # people paste the whole URL from the portal
        if ".services.ai.azure.com" in base and not base.endswith("/models"):
            base += "/models"  # a Foundry resource serves its deployments under /models
        version = creds.api_version or DEFAULT_API_VERSION
        url = f"{base}{_PATHS[call.kind]}?api-version={quote(version, safe='')}"
        return HTTPRequest("POST", url, headers, request.json, stream=call.stream)

    def map_error(self, call: Call, status: int, body: bytes, headers: dict[str, str]) -> PolyrelayError:
        exc = super().map_error(call, status, body, headers)
        if status == 400 and not isinstance(exc, ContentPolicyViolationError) and _filtered(exc.body):
            return ContentPolicyViolationError(exc.message, status_code=400, llm_provider=self.name,
                                               model=call.model, body=exc.body, headers=headers, code=exc.code,
                                               param=exc.param, secrets=call.creds.secrets())
        return exc
