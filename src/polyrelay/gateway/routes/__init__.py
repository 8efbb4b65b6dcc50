"""The route table: every endpoint, each also under /v1.

The hot LLM routes come first (Starlette matches in order) and are raw ASGI
endpoints (``llm.LLMEndpoint``); the rest are small Starlette functions.
"""

from __future__ import annotations

from typing import Any

from starlette.routing import Route

from .cache import make_cache_routes
from .anthropic import MESSAGES, CountTokens
from .chat import CHAT
from .completions import COMPLETIONS
from .docs import make_docs_routes
from .embeddings import EMBEDDINGS
from .guardrails import make_guardrails_route
from .health import make_health_routes
from .llm import LLMEndpoint
from .management import make_management_routes
from .batches import make_file_and_batch_routes
from .audio import SPEECH, TRANSCRIPTIONS, SpeechEndpoint, TranscriptionEndpoint
from .media import IMAGES, NOT_BUILT, RERANK, not_built
from .metrics import make_metrics_route
from .models import make_model_routes
from .moderations import MODERATIONS
from .openai_responses import make_responses_routes


def route_table(gateway) -> list[tuple[str, Any, list[str], str]]:
    """(path, endpoint, methods, summary) for every documented route."""
    list_models, retrieve_model, model_info = make_model_routes(gateway)
    liveliness, readiness, health = make_health_routes(gateway)
    return [
        ("/chat/completions", LLMEndpoint(gateway, CHAT), ["POST"], "Chat completion (streams with stream=true)"),
        ("/completions", LLMEndpoint(gateway, COMPLETIONS), ["POST"], "Legacy text completion"),
        ("/embeddings", LLMEndpoint(gateway, EMBEDDINGS), ["POST"], "Embeddings"),
        ("/moderations", LLMEndpoint(gateway, MODERATIONS), ["POST"], "Moderation"),
        ("/images/generations", LLMEndpoint(gateway, IMAGES), ["POST"], "Image generation"),
        ("/rerank", LLMEndpoint(gateway, RERANK), ["POST"], "Rerank documents (Cohere's shape)"),
        ("/audio/transcriptions", TranscriptionEndpoint(gateway, TRANSCRIPTIONS), ["POST"],
         "Speech to text (multipart upload)"),
        ("/audio/speech", SpeechEndpoint(gateway, SPEECH), ["POST"], "Text to speech (audio streamed back)"),
        *make_file_and_batch_routes(gateway),
        *((path, not_built(what), methods, f"{what} (not built yet: 501)") for path, methods, what in NOT_BUILT),
        ("/messages", LLMEndpoint(gateway, MESSAGES), ["POST"], "Anthropic Messages API, for any model group"),
        ("/messages/count_tokens", CountTokens(gateway), ["POST"], "Anthropic token count (local tokenizer)"),
        *make_responses_routes(gateway),
        ("/models", list_models, ["GET"], "Model groups this key may call"),
        ("/models/{model:path}", retrieve_model, ["GET"], "One model group"),
        ("/model/info", model_info, ["GET"], "Deployments and their settings (no credentials)"),
        ("/health/liveliness", liveliness, ["GET"], "The process is up (no key needed)"),
        ("/health/liveness", liveliness, ["GET"], "Alias of /health/liveliness"),
        ("/health/readiness", readiness, ["GET"], "The gateway is ready to serve (no key needed)"),
        ("/health", health, ["GET"], "Calls every deployment once and reports which answered"),
        ("/metrics", make_metrics_route(gateway), ["GET"], "Prometheus metrics (no key needed)"),
        *make_management_routes(gateway),
        *make_cache_routes(gateway),
        ("/guardrails/list", make_guardrails_route(gateway), ["GET"], "The configured guardrails"),
    ]


# Azure OpenAI clients put the deployment in the path and send an api-key header.
AZURE_ROUTES = (
    ("/openai/deployments/{model}/chat/completions", CHAT, "Chat completion, Azure OpenAI path"),
    ("/openai/deployments/{model}/completions", COMPLETIONS, "Text completion, Azure OpenAI path"),
    ("/openai/deployments/{model}/embeddings", EMBEDDINGS, "Embeddings, Azure OpenAI path"),
    ("/openai/deployments/{model}/images/generations", IMAGES, "Image generation, Azure OpenAI path"),
)


def build_routes(gateway) -> list[Route]:
    table = route_table(gateway)
    table += [(path, LLMEndpoint(gateway, spec, model_from_path=True), ["POST"], summary)
              for path, spec, summary in AZURE_ROUTES]
    table += [("/openai/deployments/{model}/audio/transcriptions",
               TranscriptionEndpoint(gateway, TRANSCRIPTIONS, model_from_path=True), ["POST"],
               "Speech to text, Azure OpenAI path"),
              ("/openai/deployments/{model}/audio/speech", SpeechEndpoint(gateway, SPEECH, model_from_path=True),
               ["POST"], "Text to speech, Azure OpenAI path")]
    openapi, docs = make_docs_routes(table)
    routes: list[Route] = []
    for path, endpoint, methods, _summary in table:
        routes.append(Route(path, endpoint, methods=methods))
        if not path.startswith("/openai/"):
            routes.append(Route("/v1" + path, endpoint, methods=methods))
    routes.append(Route("/openapi.json", openapi, methods=["GET"], include_in_schema=False))
    routes.append(Route("/docs", docs, methods=["GET"], include_in_schema=False))
    from ...ui import make_ui_routes  # the admin web UI (/ui, and / redirects there)

    routes += make_ui_routes(gateway)
    return routes
