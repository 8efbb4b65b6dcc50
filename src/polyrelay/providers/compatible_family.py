"""The rest of LiteLLM's OpenAI-compatible family (issue 20), one row each.

Kept apart from ``openai_compatible.py`` (the first rows) so each list stays
short. A row's base URL and key variable are the ones LiteLLM reads for
that provider name (``get_llm_provider_logic.py``, its per-provider config
classes and ``llms/openai_like/providers.json``), so an env file written for
LiteLLM keeps working; the providers document these base URLs as their
OpenAI-compatible endpoints.

Three providers need more than a row: Databricks (``/serving-endpoints``
under a workspace URL, and its own error body), Cloudflare Workers AI (the
account id is part of the URL, and its own error body), and Hugging Face
(``huggingface.py``, its router and TGI/TEI endpoints).
"""

from __future__ import annotations

import os
import re
from typing import Any

import orjson

from ..errors import AuthenticationError, BadRequestError, PolyrelayError
from .base import CHAT, EMBEDDING, TEXT, Call, HTTPRequest
from .openai import OpenAIAdapter, OpenAICompatible

_CHAT_EMBED = frozenset({CHAT, EMBEDDING})
_NO_LOGPROBS = frozenset({"logprobs", "top_logprobs", "logit_bias"})

ROWS: tuple[OpenAICompatible, ...] = (
    # LiteLLM's vllm/ runs vLLM in-process; over a network it is hosted_vllm/'s OpenAI route,
    # and that is what polyrelay serves under both names.
    OpenAICompatible("vllm", None, ("VLLM_API_KEY", "HOSTED_VLLM_API_KEY"),
                     ("VLLM_API_BASE", "HOSTED_VLLM_API_BASE"), key_required=False,
                     kinds=frozenset({CHAT, TEXT, EMBEDDING})),
    OpenAICompatible("llamafile", "http://127.0.0.1:8080/v1", ("LLAMAFILE_API_KEY",), ("LLAMAFILE_API_BASE",),
                     key_required=False),
    OpenAICompatible("xinference", "http://127.0.0.1:9997/v1", ("XINFERENCE_API_KEY",), ("XINFERENCE_API_BASE",),
                     key_required=False, kinds=_CHAT_EMBED),
    OpenAICompatible("anyscale", "https://api.endpoints.anyscale.com/v1", ("ANYSCALE_API_KEY",),
                     ("ANYSCALE_API_BASE",)),
    OpenAICompatible("empower", "https://app.empower.dev/api/v1", ("EMPOWER_API_KEY",), ("EMPOWER_API_BASE",)),
    OpenAICompatible("meta_llama", "https://api.llama.com/compat/v1", ("LLAMA_API_KEY",), ("LLAMA_API_BASE",)),
    OpenAICompatible("ai21_chat", "https://api.ai21.com/studio/v1", ("AI21_API_KEY",), ("AI21_API_BASE",)),
    OpenAICompatible("volcengine", "https://ark.cn-beijing.volces.com/api/v3", ("VOLCENGINE_API_KEY", "ARK_API_KEY"),
                     ("VOLCENGINE_API_BASE",)),
    # Chat only: Codestral's fill-in-the-middle endpoint (/fim/completions) is not OpenAI's /completions.
    OpenAICompatible("codestral", "https://codestral.mistral.ai/v1", ("CODESTRAL_API_KEY",), ("CODESTRAL_API_BASE",),
                     unsupported=_NO_LOGPROBS),
    OpenAICompatible("github", "https://models.inference.ai.azure.com", ("GITHUB_API_KEY",), ("GITHUB_API_BASE",)),
    OpenAICompatible("friendliai", "https://api.friendli.ai/serverless/v1", ("FRIENDLIAI_API_KEY", "FRIENDLI_TOKEN"),
                     ("FRIENDLI_API_BASE",)),
    OpenAICompatible("galadriel", "https://api.galadriel.com/v1", ("GALADRIEL_API_KEY",), ("GALADRIEL_API_BASE",)),
    OpenAICompatible("nebius", "https://api.studio.nebius.ai/v1", ("NEBIUS_API_KEY",), ("NEBIUS_API_BASE",),
                     kinds=_CHAT_EMBED),
    OpenAICompatible("novita", "https://api.novita.ai/v3/openai", ("NOVITA_API_KEY",), ("NOVITA_API_BASE",)),
    OpenAICompatible("lambda_ai", "https://api.lambda.ai/v1", ("LAMBDA_API_KEY",), ("LAMBDA_API_BASE",)),
    OpenAICompatible("hyperbolic", "https://api.hyperbolic.xyz/v1", ("HYPERBOLIC_API_KEY",), ("HYPERBOLIC_API_BASE",)),
    OpenAICompatible("featherless_ai", "https://api.featherless.ai/v1",
                     ("FEATHERLESS_AI_API_KEY", "FEATHERLESS_API_KEY"), ("FEATHERLESS_AI_API_BASE",)),
    OpenAICompatible("nscale", "https://inference.api.nscale.com/v1", ("NSCALE_API_KEY",), ("NSCALE_API_BASE",)),
    OpenAICompatible("dashscope", "https://dashscope-intl.aliyuncs.com/compatible-mode/v1", ("DASHSCOPE_API_KEY",),
                     ("DASHSCOPE_API_BASE",), kinds=_CHAT_EMBED),
    OpenAICompatible("moonshot", "https://api.moonshot.ai/v1", ("MOONSHOT_API_KEY",), ("MOONSHOT_API_BASE",)),
    OpenAICompatible("v0", "https://api.v0.dev/v1", ("V0_API_KEY",), ("V0_API_BASE",)),
    OpenAICompatible("morph", "https://api.morphllm.com/v1", ("MORPH_API_KEY",), ("MORPH_API_BASE",)),
    OpenAICompatible("aiml", "https://api.aimlapi.com/v1", ("AIML_API_KEY",), ("AIML_API_BASE",)),
    OpenAICompatible("ovhcloud", "https://oai.endpoints.kepler.ai.cloud.ovh.net/v1", ("OVHCLOUD_API_KEY",),
                     ("OVHCLOUD_API_BASE",), kinds=_CHAT_EMBED),
    OpenAICompatible("wandb", "https://api.inference.wandb.ai/v1", ("WANDB_API_KEY",), ("WANDB_API_BASE",)),
    OpenAICompatible("litellm_proxy", None, ("LITELLM_PROXY_API_KEY",), ("LITELLM_PROXY_API_BASE",),
                     key_required=False, kinds=frozenset({CHAT, TEXT, EMBEDDING})),
    # LiteLLM's JSON-configured OpenAI-like providers (llms/openai_like/providers.json).
    OpenAICompatible("publicai", "https://api.publicai.co/v1", ("PUBLICAI_API_KEY",), ("PUBLICAI_API_BASE",)),
    OpenAICompatible("helicone", "https://ai-gateway.helicone.ai", ("HELICONE_API_KEY",), ("HELICONE_API_BASE",)),
    OpenAICompatible("veniceai", "https://api.venice.ai/api/v1", ("VENICE_AI_API_KEY",), ("VENICE_AI_API_BASE",)),
    OpenAICompatible("xiaomi_mimo", "https://api.xiaomimimo.com/v1", ("XIAOMI_MIMO_API_KEY",),
                     ("XIAOMI_MIMO_API_BASE",), renamed={"max_completion_tokens": "max_tokens"}),
    OpenAICompatible("scaleway", "https://api.scaleway.ai/v1", ("SCW_SECRET_KEY",), ("SCALEWAY_API_BASE",)),
    OpenAICompatible("synthetic", "https://api.synthetic.new/openai/v1", ("SYNTHETIC_API_KEY",),
                     ("SYNTHETIC_API_BASE",), renamed={"max_completion_tokens": "max_tokens"}),
    OpenAICompatible("nano-gpt", "https://nano-gpt.com/api/v1", ("NANOGPT_API_KEY",), ("NANOGPT_API_BASE",),
                     renamed={"max_completion_tokens": "max_tokens"}),
    OpenAICompatible("poe", "https://api.poe.com/v1", ("POE_API_KEY",), ("POE_API_BASE",),
                     renamed={"max_completion_tokens": "max_tokens"}),
    OpenAICompatible("chutes", "https://llm.chutes.ai/v1", ("CHUTES_API_KEY",), ("CHUTES_API_BASE",),
                     renamed={"max_completion_tokens": "max_tokens"}),
    OpenAICompatible("gmi", "https://api.gmi-serving.com/v1", ("GMI_API_KEY",), ("GMI_API_BASE",)),
    OpenAICompatible("aihubmix", "https://aihubmix.com/v1", ("AIHUBMIX_API_KEY",), ("AIHUBMIX_API_BASE",)),
    OpenAICompatible("crusoe", "https://managed-inference-api-proxy.crusoecloud.com/v1", ("CRUSOE_API_KEY",),
                     ("CRUSOE_API_BASE",), renamed={"max_completion_tokens": "max_tokens"}),
)


class DatabricksAdapter(OpenAIAdapter):
    """Databricks Model Serving: ``{workspace}/serving-endpoints/chat/completions``
    (and ``/embeddings``), where the model is the serving endpoint's name.
    Answers are OpenAI-shaped; errors are ``{"error_code": ..., "message": ...}``."""

    def __init__(self) -> None:
        # Databricks streams carry usage in their chunks but do not document stream_options.
        super().__init__(OpenAICompatible("databricks", None, ("DATABRICKS_API_KEY", "DATABRICKS_TOKEN"),
                                          ("DATABRICKS_API_BASE", "DATABRICKS_HOST"), kinds=_CHAT_EMBED,
                                          unsupported=_NO_LOGPROBS, streams_usage=False))

    def build_request(self, call: Call) -> HTTPRequest:
        base = (call.creds.api_base or "").rstrip("/")
        if not base:
            raise BadRequestError("databricks needs the workspace URL: pass api_base= or set DATABRICKS_API_BASE "
                                  "(https://<workspace>.cloud.databricks.com/serving-endpoints)",
                                  llm_provider=self.name, model=call.model, param="api_base")
        if not call.creds.api_key:
            raise AuthenticationError("No API key for databricks: pass api_key= or set DATABRICKS_API_KEY",
                                      llm_provider=self.name, model=call.model)
        # LiteLLM's documented DATABRICKS_API_BASE ends in /serving-endpoints; a bare workspace URL works too.
        if not base.endswith("/serving-endpoints"):
            base += "/serving-endpoints"
        return super().build_request(_with_base(call, base))

    def map_error(self, call: Call, status: int, body: bytes, headers: dict[str, str]) -> PolyrelayError:
        parsed = _json(body)
        if isinstance(parsed, dict) and "error_code" in parsed and "error" not in parsed:
            # error_code: BAD_REQUEST, RESOURCE_DOES_NOT_EXIST, REQUEST_LIMIT_EXCEEDED, ...
            body = _openai_error(parsed.get("message"), parsed.get("error_code"))
        return super().map_error(call, status, body, headers)


_ACCOUNT = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class CloudflareAdapter(OpenAIAdapter):
    """Workers AI's OpenAI-compatible endpoints:
    ``https://api.cloudflare.com/client/v4/accounts/{account_id}/ai/v1/chat/completions``
    (and ``/embeddings``), bearer API token, models named ``@cf/...``.
    Errors come in Cloudflare's v4 envelope, ``{"errors": [{"code", "message"}], "success": false}``."""

    credential_args = ("cloudflare_account_id",)

    def __init__(self) -> None:
        super().__init__(OpenAICompatible("cloudflare", None, ("CLOUDFLARE_API_KEY", "CLOUDFLARE_API_TOKEN"),
                                          ("CLOUDFLARE_API_BASE",), kinds=_CHAT_EMBED))

    def build_request(self, call: Call) -> HTTPRequest:
        base = (call.creds.api_base or "").rstrip("/")
        if base.endswith("/ai/run"):
            # LiteLLM's CLOUDFLARE_API_BASE names the native /ai/run/ route: its OpenAI twin is /ai/v1.
            base = base[: -len("/run")] + "/v1"
        if not base:
            account = call.creds.extra.get("cloudflare_account_id") or os.environ.get("CLOUDFLARE_ACCOUNT_ID")
            if not account:
                raise BadRequestError("cloudflare needs an account id: pass cloudflare_account_id= or set "
                                      "CLOUDFLARE_ACCOUNT_ID (or api_base=)", llm_provider=self.name,
                                      model=call.model, param="cloudflare_account_id")
            if not _ACCOUNT.match(account):
                # It becomes part of the URL path of a request that carries the token.
                raise BadRequestError("cloudflare_account_id is not an account id (letters, digits, '-', '_')",
                                      llm_provider=self.name, model=call.model, param="cloudflare_account_id")
            base = f"https://api.cloudflare.com/client/v4/accounts/{account}/ai/v1"
            if not call.creds.api_key:
                raise AuthenticationError("No API key for cloudflare: pass api_key= or set CLOUDFLARE_API_KEY",
                                          llm_provider=self.name, model=call.model)
        return super().build_request(_with_base(call, base))

    def map_error(self, call: Call, status: int, body: bytes, headers: dict[str, str]) -> PolyrelayError:
        parsed = _json(body)
        if isinstance(parsed, dict) and isinstance(parsed.get("errors"), list) and parsed["errors"]:
            first = parsed["errors"][0] if isinstance(parsed["errors"][0], dict) else {}
            body = _openai_error(first.get("message"), first.get("code"))
        return super().map_error(call, status, body, headers)


def _json(body: bytes) -> Any:
    try:
        return orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        return None


def _openai_error(message: Any, code: Any) -> bytes:
    """A vendor's error as OpenAI's ``{"error": {...}}``, so the shared mapping reads it."""
    return orjson.dumps({"error": {"message": str(message or ""), "code": str(code) if code is not None else None}})


def _with_base(call: Call, base: str) -> Call:
    """The call with its api_base resolved (the adapters above compute it)."""
    from dataclasses import replace

    return replace(call, creds=replace(call.creds, api_base=base))


class HerokuAdapter(OpenAIAdapter):
    """Heroku Managed Inference: HEROKU_API_BASE is the add-on's INFERENCE_URL
    (``https://us.inference.heroku.com``), the OpenAI routes live under its ``/v1``."""

    def __init__(self) -> None:
        super().__init__(OpenAICompatible("heroku", "https://us.inference.heroku.com", ("HEROKU_API_KEY",),
                                          ("HEROKU_API_BASE",)))

    def build_request(self, call: Call) -> HTTPRequest:
        request = super().build_request(call)
        base = (call.creds.api_base or self.default_api_base).rstrip("/")
        if not base.endswith("/v1"):
            request.url = base + "/v1/chat/completions"
        return request


ADAPTERS = {row.name: OpenAIAdapter(row) for row in ROWS}
ADAPTERS["heroku"] = HerokuAdapter()
ADAPTERS["databricks"] = DatabricksAdapter()
ADAPTERS["cloudflare"] = CloudflareAdapter()
