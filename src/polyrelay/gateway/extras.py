"""Request extras: what a client may put in its body beyond OpenAI's fields.

Allowed and passed to the Router as they are (their types and sizes checked
in schema.py): ``metadata``, ``user``, ``mock_response``, ``fallbacks``,
``num_retries``, ``timeout``, ``user_config``, a client-side ``api_key``,
and any provider-specific parameter.

Checked here, before any provider is called:

- client-side endpoint fields (``api_base``, regions, ``api_version``...;
  see clientside.py), directly or inside ``user_config``'s model_list, only
  where the admin allowed them: they would otherwise let any caller point
  the gateway, and the deployment's key, at any address;
- fields that set prices or what prices a call (``input_cost_per_token``,
  ``input_cost_per_request``, ``base_model``, ``litellm_params``,
  ``model_info``...) are refused: a caller must not price its own calls,
  or reach into the Router.
"""

from __future__ import annotations

import re
from typing import Any

from ..cost import PRICING_ARGS
from ..errors import BadRequestError, PermissionDeniedError
from . import clientside
from .schema import MAX_ID_CHARS, identifier

# Never taken from a client: prices and what prices a call (spend and budgets
# depend on them) and internal plumbing of the SDK/Router.
REFUSED_FIELDS = frozenset({
    *PRICING_ARGS, "input_cost_per_second", "output_cost_per_second", "litellm_logging_obj",
    "proxy_server_request", "litellm_metadata", "model_list", "custom_llm_provider", "litellm_call_id",
    "polyrelay_wire", "allowed_model_groups", "response_cost", "custom_pricing", "base_model",
})
# Any other price-shaped name (input_cost_per_character, output_cost_per_image,
# cache_read_input_token_cost...): LiteLLM reads many, so refuse the shape.
PRICE_NAME = re.compile(r"(^|_)cost(_|$)")
# Accepted for LiteLLM compatibility but handled by features outside the Router
# (caching): kept off the provider call. ``guardrails`` is taken off the body
# by the guardrail stage (guardrails/stage.py), which reads it.
GATEWAY_ONLY_FIELDS: tuple[str, ...] = ()


def is_refused(key: str) -> bool:
    return key in REFUSED_FIELDS or PRICE_NAME.search(key) is not None


def check_refused(body: dict[str, Any]) -> None:
    for key in body:
        if is_refused(key):
            raise BadRequestError(f"{key!r} cannot be set by a client request: prices and pricing come from the "
                                  "gateway's config and catalogue only.", param=key, code="field_not_allowed")


def check_clientside_params(gateway, group: str, body: dict[str, Any]) -> None:
    """Refuse client-side endpoint fields (api_base, region, api_version...) unless the admin
    allowed them for this group; check the values of those that are allowed."""
    fields = clientside.endpoint_fields_in(body)
    if not fields:
        return
    allow_metadata = gateway.config.allow_client_side_metadata_hosts
    for key in fields:
        if not isinstance(body[key], str) or not gateway.clientside_param_allowed(group, key, body[key]):
            raise clientside.refuse(key, group)
        clientside.check_value(key, body[key], allow_metadata)


# What a per-request Router config may set. Anything else (redis_host,
# state, ...) would let a caller reach past its own request.
USER_CONFIG_KEYS = frozenset({
    "model_list", "num_retries", "allowed_fails", "cooldown_time", "fallbacks", "context_window_fallbacks",
    "content_policy_fallbacks", "default_fallbacks", "timeout", "stream_timeout", "routing_strategy",
    "retry_after",
})
_USER_CONFIG_NUMBERS = {"num_retries": (0, 10), "allowed_fails": (0, 1000), "cooldown_time": (0, 3600),
                        "timeout": (0, 86_400), "stream_timeout": (0, 86_400), "retry_after": (0, 3600)}


def check_user_config(gateway, user_config: Any, principal: Any = None) -> None:
    """``user_config`` is a whole Router config from the client. Its
    deployments' endpoints are client-side endpoints too (allowed only by
    allow_client_side_credentials), it may not read the gateway's
    environment through ``os.environ/`` references, and it reaches only the
    providers the admin lists (``general_settings.user_config_providers``)
    unless it names its own endpoint: a provider whose endpoint comes from
    the gateway's environment (``OLLAMA_API_BASE``...) would otherwise serve
    any caller. A caller that
    is not the admin must bring its own api_key for each deployment:
    otherwise the provider keys in the gateway's environment would serve
    models its key does not allow."""
    if not isinstance(user_config, dict):
        raise BadRequestError("user_config must be an object (a Router config)", param="user_config",
                              code="invalid_type")
    unknown = sorted(set(user_config) - USER_CONFIG_KEYS)
    if unknown:
        raise BadRequestError(f"user_config may not set {', '.join(unknown)}; allowed: "
                              f"{', '.join(sorted(USER_CONFIG_KEYS))}", param="user_config", code="field_not_allowed")
    _refuse_env_references(user_config, "user_config")
    for key, (low, high) in _USER_CONFIG_NUMBERS.items():
        value = user_config.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                  or not low <= value <= high):
            raise BadRequestError(f"user_config.{key} must be a number from {low} to {high}", param="user_config",
                                  code="invalid_value")
    model_list = user_config.get("model_list")
    if model_list is None:
        return
    if not isinstance(model_list, list):
        raise BadRequestError("user_config.model_list must be a list", param="user_config", code="invalid_type")
    for index, deployment in enumerate(model_list):
        _check_user_deployment(gateway, index, deployment, principal)


def _check_user_deployment(gateway, index: int, deployment: Any, principal: Any) -> None:
    where = f"user_config.model_list[{index}]"
    params = deployment.get("litellm_params") if isinstance(deployment, dict) else None
    if not isinstance(params, dict) or not isinstance(params.get("model"), str):
        raise BadRequestError(f"{where}.litellm_params must be an object with a model", param="user_config",
                              code="invalid_type")
    info = deployment.get("model_info") or {}
    if not isinstance(info, dict):
        raise BadRequestError(f"{where}.model_info must be an object", param="user_config", code="invalid_type")
    # Names and ids end up in headers, metrics and spend records: printable and bounded.
    for label, value in (("model_name", deployment.get("model_name")), ("litellm_params.model", params["model"]),
                         ("model_info.id", info.get("id"))):
        if value is not None and identifier(value) is not None:
            raise BadRequestError(f"{where}.{label} must be a printable string of at most {MAX_ID_CHARS} "
                                  "characters", param="user_config", code="invalid_value")
    for key in sorted(params):
        if is_refused(key):
            raise BadRequestError(f"{where}.litellm_params.{key} cannot be set by a client.", param="user_config",
                                  code="field_not_allowed")
    for key in sorted(info):
        if is_refused(key):
            raise BadRequestError(f"{where}.model_info.{key} cannot be set by a client: prices come from the "
                                  "gateway's config and catalogue only.", param="user_config",
                                  code="field_not_allowed")
    if principal is not None and not principal.is_admin and not params.get("api_key"):
        raise PermissionDeniedError(f"{where} needs its own api_key.", param="user_config",
                                    code="clientside_api_key_required")
    allowed = gateway.config.allow_client_side_credentials
    for key in clientside.endpoint_fields_in(params):
        clientside.check_value(key, params[key], gateway.config.allow_client_side_metadata_hosts,
                               where=f"{where}.litellm_params.{key}")
        if not allowed:
            raise PermissionDeniedError(
                f"{where} sets {key}, and client-side {key} is not allowed on this gateway. To allow it, set "
                "general_settings.allow_client_side_credentials: true.", param="user_config",
                code="clientside_api_base_not_allowed" if key in ("api_base", "base_url")
                else "clientside_param_not_allowed")
    # A deployment that names its own (allowed) endpoint uses nothing of the gateway's environment.
    own_endpoint = params.get("api_base") or params.get("base_url")
    provider = gateway.provider_of(params["model"])
    if not own_endpoint and provider not in gateway.config.user_config_providers:
        raise PermissionDeniedError(
            f"{where} uses provider {provider!r}, which user_config may not reach on this gateway; allowed: "
            f"{', '.join(sorted(gateway.config.user_config_providers)) or 'none'} "
            "(general_settings.user_config_providers).", param="user_config", code="provider_not_allowed")


def _refuse_env_references(node: Any, path: str) -> None:
    if isinstance(node, str):
        if node.startswith("os.environ/"):
            raise BadRequestError(f"{path} is an os.environ/ reference; those belong in the admin's config file, "
                                  "not in requests.",
                                  param="user_config", code="field_not_allowed")
    elif isinstance(node, dict):
        for key, value in node.items():
            _refuse_env_references(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            _refuse_env_references(value, f"{path}[{index}]")


def split_batch(router, model: str, limit: int) -> list[str] | None:
    """``model="a,b"``: the groups to ask at once, or None for a single model.
    A group whose own name contains a comma is never split. At most ``limit``
    groups (``general_settings.max_batch_models``): each is an upstream call."""
    if "," not in model or router.has_group(model):
        return None
    groups = [name.strip() for name in model.split(",")]
    if not all(groups):
        raise BadRequestError(f"model {model!r} has an empty name in its comma-separated list", param="model")
    if len(groups) > limit:
        raise BadRequestError(f"model names {len(groups)} groups; a request may ask at most {limit} at once "
                              "(general_settings.max_batch_models)", param="model", code="too_many_models")
    return groups
