"""Request extras: what a client may put in its body beyond OpenAI's fields.

Allowed and passed to the Router as they are: ``metadata``, ``user``,
``mock_response``, ``fallbacks``, ``num_retries``, ``timeout``,
``user_config``, client-side ``api_key`` and ``api_version``, and any
provider-specific parameter.

Checked here, before any provider is called:

- client-side ``api_base`` (or ``base_url``), directly or inside
  ``user_config``'s model_list, only where the admin allowed it: it would
  otherwise let any caller point the gateway, and the deployment's key,
  at any address;
- fields that set prices or internal state (``input_cost_per_token``,
  ``model_info``...) are refused: a caller must not be able to price its
  own calls at zero, or reach into the Router.
"""

from __future__ import annotations

from typing import Any

from ..errors import BadRequestError, PermissionDeniedError

# Never taken from a client: prices (spend and budgets depend on them) and
# internal plumbing of the SDK/Router.
REFUSED_FIELDS = frozenset({
    "input_cost_per_token", "output_cost_per_token", "input_cost_per_second", "output_cost_per_second",
    "cache_read_input_token_cost", "cache_creation_input_token_cost", "model_info", "model_id",
    "litellm_logging_obj", "proxy_server_request", "litellm_metadata", "model_list", "custom_llm_provider",
    "litellm_call_id",
})
# Accepted for LiteLLM compatibility but handled by features outside the Router
# (guardrails, caching): kept off the provider call.
GATEWAY_ONLY_FIELDS = ("guardrails",)

HOW_TO_ALLOW = ("To allow it, set general_settings.allow_client_side_credentials: true, or list api_base in "
                "the deployment's litellm_params.configurable_clientside_auth_params.")


def check_refused(body: dict[str, Any]) -> None:
    for key in body:
        if key in REFUSED_FIELDS:
            raise BadRequestError(f"{key!r} cannot be set by a client request.", param=key,
                                  code="field_not_allowed")


def check_api_base(gateway, group: str, body: dict[str, Any]) -> None:
    """Refuse a client-side api_base unless the admin allowed it for this group."""
    for key in ("api_base", "base_url"):
        value = body.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            raise BadRequestError(f"{key} must be a string", param=key, code="invalid_type")
        if not gateway.api_base_allowed(group, value):
            raise PermissionDeniedError(
                f"A client-side {key} is not allowed for model {group!r}. {HOW_TO_ALLOW}",
                param=key, code="clientside_api_base_not_allowed")


# What a per-request Router config may set. Anything else (redis_host,
# state, ...) would let a caller reach past its own request.
USER_CONFIG_KEYS = frozenset({
    "model_list", "num_retries", "allowed_fails", "cooldown_time", "fallbacks", "context_window_fallbacks",
    "content_policy_fallbacks", "default_fallbacks", "timeout", "stream_timeout", "routing_strategy",
    "retry_after",
})


def check_user_config(gateway, user_config: Any, principal: Any = None) -> None:
    """``user_config`` is a whole Router config from the client. Its
    deployments' api_base is a client-side api_base too (allowed only by
    allow_client_side_credentials), and it may not read the gateway's
    environment through ``os.environ/`` references. A caller that is not
    the admin must bring its own api_key for each deployment: otherwise the
    provider keys in the gateway's environment would serve models its key
    does not allow."""
    if not isinstance(user_config, dict):
        raise BadRequestError("user_config must be an object (a Router config)", param="user_config",
                              code="invalid_type")
    unknown = sorted(set(user_config) - USER_CONFIG_KEYS)
    if unknown:
        raise BadRequestError(f"user_config may not set {', '.join(unknown)}; allowed: "
                              f"{', '.join(sorted(USER_CONFIG_KEYS))}", param="user_config", code="field_not_allowed")
    _refuse_env_references(user_config, "user_config")
    model_list = user_config.get("model_list")
    if model_list is None:
        return
    if not isinstance(model_list, list):
        raise BadRequestError("user_config.model_list must be a list", param="user_config", code="invalid_type")
    for index, deployment in enumerate(model_list):
        params = deployment.get("litellm_params") if isinstance(deployment, dict) else None
        if not isinstance(params, dict):
            raise BadRequestError(f"user_config.model_list[{index}].litellm_params must be an object",
                                  param="user_config", code="invalid_type")
        for key in sorted(REFUSED_FIELDS & params.keys()):
            raise BadRequestError(f"user_config.model_list[{index}].litellm_params.{key} cannot be set by a client.",
                                  param="user_config", code="field_not_allowed")
        if principal is not None and not principal.is_admin and not params.get("api_key"):
            raise PermissionDeniedError(f"user_config.model_list[{index}] needs its own api_key.",
                                        param="user_config", code="clientside_api_key_required")
        for key in ("api_base", "base_url"):
            if params.get(key) and not gateway.config.allow_client_side_credentials:
                raise PermissionDeniedError(
                    f"user_config.model_list[{index}] sets {key}, and client-side {key} is not allowed on this "
                    "gateway. To allow it, set general_settings.allow_client_side_credentials: true.",
                    param="user_config", code="clientside_api_base_not_allowed")


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


def split_batch(router, model: str) -> list[str] | None:
    """``model="a,b"``: the groups to ask at once, or None for a single model.
    A group whose own name contains a comma is never split."""
    if "," not in model or router.has_group(model):
        return None
    groups = [name.strip() for name in model.split(",")]
    if not all(groups):
        raise BadRequestError(f"model {model!r} has an empty name in its comma-separated list", param="model")
    return groups
