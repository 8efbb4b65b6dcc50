"""Which Bedrock model a ``bedrock/...`` name means, and what it can take.

A name may carry LiteLLM's route (``converse/``, ``invoke/``), a
cross-region inference profile (``us.``, ``eu.``, ``apac.``, ``global.``,
...) or be an ARN (a provisioned model, a system or application inference
profile). The URL takes the name as given (minus the route); the family
quirks below are read from the bare model id under it.

The quirks are AWS's "Supported models and model features" table for the
Converse API: a few older models take no system prompt, and several take no
tools. Sending either to them would be an AWS ValidationException after a
paid round trip, so they are refused up front, by name. A guardrailConfig
is checked here too, for both routes (Converse's body, InvokeModel's headers).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import BadRequestError
from . import _convert as cv
from .base import Call

ROUTES = ("converse/", "invoke/")
PROFILE_PREFIXES = ("us.", "eu.", "apac.", "global.", "jp.", "au.", "us-gov.", "ca.", "in.")


@dataclass(frozen=True, slots=True)
class Family:
    vendor: str  # the id's first part: anthropic, meta, amazon, ...
    system: bool = True  # takes a system prompt through Converse
    tools: bool = True  # takes tools through Converse
    chat: bool = True  # a chat model at all (not embeddings, images, rerank)
    stream_tools: bool = True  # takes tools through ConverseStream too


# (bare-id prefix, family), longest prefix first where they overlap.
_QUIRKS: tuple[tuple[str, Family], ...] = (
    ("amazon.titan-text", Family("amazon", system=False, tools=False)),
    ("amazon.titan-embed", Family("amazon", chat=False)),
    ("amazon.titan-image", Family("amazon", chat=False)),
    ("amazon.nova-canvas", Family("amazon", chat=False)),
    ("amazon.nova-reel", Family("amazon", chat=False)),
    ("amazon.nova-2-multimodal-embeddings", Family("amazon", chat=False)),
    ("amazon.rerank", Family("amazon", chat=False)),
    ("anthropic.claude-v2", Family("anthropic", tools=False)),
    ("anthropic.claude-instant", Family("anthropic", tools=False)),
    ("anthropic.claude-v1", Family("anthropic", tools=False)),
    ("meta.llama2", Family("meta", tools=False)),
    ("meta.llama3-8b", Family("meta", tools=False)),  # Llama 3.0; 3.1 and later take tools
    ("meta.llama3-70b", Family("meta", tools=False)),
    ("meta.llama3-2-1b", Family("meta", tools=False)),
    ("meta.llama3-2-3b", Family("meta", tools=False)),
    # Llama 3.1 and later, Mistral Large and Small: tools on Converse, not on ConverseStream.
    ("meta.llama", Family("meta", stream_tools=False)),
    ("mistral.mistral-large", Family("mistral", stream_tools=False)),
    ("mistral.mistral-small", Family("mistral", stream_tools=False)),
    ("mistral.mistral-7b-instruct", Family("mistral", system=False, tools=False)),
    ("mistral.mixtral-8x7b-instruct", Family("mistral", system=False, tools=False)),
    ("cohere.command-text", Family("cohere", system=False, tools=False)),
    ("cohere.command-light-text", Family("cohere", system=False, tools=False)),
    ("cohere.embed", Family("cohere", chat=False)),
    ("cohere.rerank", Family("cohere", chat=False)),
    ("ai21.j2", Family("ai21", system=False, tools=False)),
    ("ai21.jamba-instruct", Family("ai21", tools=False)),
    ("deepseek.r1", Family("deepseek", tools=False)),
    ("stability.", Family("stability", chat=False)),
    ("twelvelabs.marengo", Family("twelvelabs", chat=False)),
)


def without_route(model: str) -> tuple[str, str]:
    """(route, model id as sent in the URL): ``invoke/x`` -> ("invoke", "x")."""
    for route in ROUTES:
        if model.startswith(route):
            return route[:-1], model[len(route):]
    return "converse", model


def bare_id(model: str) -> str:
    """The foundation-model id under a route, a profile prefix or an ARN; an
    application inference profile's ARN names no model and stays as it is."""
    _route, name = without_route(model)
    if name.startswith("arn:"):
        tail = name.rsplit("/", 1)[-1]
        if ":inference-profile/" in name or ":foundation-model/" in name:
            name = tail
        else:
            return name
    for prefix in PROFILE_PREFIXES:
        if name.startswith(prefix):
            return name[len(prefix):]
    return name


def family(model: str) -> Family:
    bare = bare_id(model)
    for prefix, found in _QUIRKS:
        if bare.startswith(prefix):
            return found
    vendor = bare.split(".", 1)[0] if "." in bare and not bare.startswith("arn:") else ""
    return Family(vendor)


_GUARDRAIL_KEYS = frozenset({"guardrailIdentifier", "guardrailVersion", "trace", "streamProcessingMode"})


def guardrail_config(call: Call, config: Any) -> dict[str, Any]:
    """guardrailConfig as Converse takes it. streamProcessingMode ("sync" or
    "async") belongs to ConverseStream only: a config set once for a model
    (litellm_params) serves its plain calls too, so there it is left out."""
    if not isinstance(config, dict) or not config.get("guardrailIdentifier") or not config.get("guardrailVersion"):
        raise BadRequestError("guardrailConfig needs guardrailIdentifier and guardrailVersion (e.g. \"DRAFT\" or "
                              "\"1\")", llm_provider="bedrock", model=call.model, param="guardrailConfig")
    unknown = sorted(set(config) - _GUARDRAIL_KEYS)
    if unknown:
        raise BadRequestError(f"guardrailConfig has fields Bedrock does not know: {', '.join(unknown)} (it takes "
                              f"{', '.join(sorted(_GUARDRAIL_KEYS))})", llm_provider="bedrock", model=call.model,
                              param="guardrailConfig")
    if not call.stream:
        config = {k: v for k, v in config.items() if k != "streamProcessingMode"}
    return dict(config)


def check_family(call: Call) -> None:
    """Refuse, by name, what AWS's Converse table says a model family cannot take."""
    found = family(call.model)
    params = call.params
    if not found.chat:
        raise BadRequestError(f"bedrock/{call.model} is not a chat model (embeddings, images or rerank): call it "
                              "through embedding(), image_generation() or rerank()", llm_provider="bedrock",
                              model=call.model, param="model")
    if not found.system and any(m.get("role") in ("system", "developer") for m in params.get("messages") or []):
        raise BadRequestError(f"bedrock/{call.model} takes no system prompt through Converse (AWS's model "
                              "features table): put the instructions in the first user message",
                              llm_provider="bedrock", model=call.model, param="messages")
    if not found.tools and (params.get("tools") or any(m.get("tool_calls") or m.get("role") == "tool"
                                                       for m in params.get("messages") or [])):
        raise cv.unsupported(call, "tools", f"with bedrock/{call.model} (AWS's Converse model features table "
                             "lists no tool use for it)")
    if call.stream and not found.stream_tools and params.get("tools"):
        raise cv.unsupported(call, "tools", f"with stream=True on bedrock/{call.model}: ConverseStream takes no "
                             "tools for it (AWS's model features table); call it without streaming")
