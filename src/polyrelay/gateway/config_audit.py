"""LiteLLM settings polyrelay does not act on, sorted by what ignoring them
would do (SPEC 5, "never a silent no-op").

- ``REFUSED``: the setting changes what a call does, who may make it or what
  it costs (or what is recorded about it). Set to anything but off/empty, it
  stops start-up with a message naming it: running without it would be a
  breach nobody knows about.
- ``NO_EFFECT``: alerting channels, UI and database tuning — nothing about a
  call changes. Start-up warns, naming each.

A name in neither table and in no section's checked table is unknown: a
warning (LiteLLM configs carry many settings of its own features). A
feature that starts honouring a setting removes it from here.
"""

from __future__ import annotations

from typing import Any

REFUSED: dict[str, dict[str, str]] = {
    "general_settings": {
        "enforce_user_param": "requiring the user field on every request is not supported",
        "max_parallel_requests": "a gateway-wide parallel request limit is not supported; set it on keys",
        "global_max_parallel_requests": "a gateway-wide parallel request limit is not supported; set it on keys",
        "allowed_routes": "gateway-wide route restrictions are not supported; use a key's allowed_routes",
        "admin_only_routes": "admin-only route lists are not supported (only the master key manages)",
        "public_routes": "public route lists are not supported",
        "custom_auth": "custom auth functions are not supported",
        "enable_jwt_auth": "JWT auth is not supported",
        "litellm_jwtauth": "JWT auth is not supported",
        "enable_oauth2_auth": "OAuth2 auth is not supported",
        "litellm_key_header_name": "a custom key header is not supported (Authorization or api-key)",
        "user_header_name": "taking the end user from a header is not supported (use the user field)",
        "disable_spend_logs": "turning spend logs off is not supported",
        "maximum_spend_logs_retention_period": "spend log retention is not supported",
        "allow_requests_on_db_unavailable": "serving without the database is not configurable",
        "pass_through_endpoints": "pass-through endpoints are not supported",
        "forward_client_headers_to_llm_api": "forwarding client headers upstream is not supported",
        "key_management_system": "external key management systems are not supported; use os.environ/",
        "use_google_kms": "Google KMS is not supported; use os.environ/",
        "use_azure_key_vault": "Azure Key Vault is not supported; use os.environ/",
        "default_team_disabled": "default_team_disabled is not supported",
    },
    "litellm_settings": {
        "max_end_user_budget": "a default end-user budget is not supported; set budgets with /customer/new",
        "max_internal_user_budget": "a default user budget is not supported; set it with /user/new",
        "default_key_generate_params": "default key fields are not supported; pass them to /key/generate",
        "upperbound_key_generate_params": "upper bounds on key fields are not supported",
        "default_internal_user_params": "default user fields are not supported; pass them to /user/new",
        "default_team_settings": "per-team settings in the config are not supported",
        "modify_params": "modify_params is not supported",
        "force_ipv4": "force_ipv4 is not supported",
        "ssl_verify": "ssl_verify is not supported (certificates are always verified)",
        "enable_json_schema_validation": "response JSON schema validation is not supported",
        "disable_end_user_cost_tracking": "end-user cost tracking is always on",
        "redact_user_api_key_info": "redact_user_api_key_info is not supported",
        "public_teams": "public teams are not supported",
    },
    "router_settings": {
        "provider_budget_config": "provider budgets are not supported",
        "enable_tag_filtering": "tag-based routing is not supported",
        "tag_filtering_match_any": "tag-based routing is not supported",
        "model_group_affinity_config": "model group affinity is not supported",
        "optional_pre_call_checks": "optional_pre_call_checks is not supported (see enable_pre_call_checks)",
        "default_max_parallel_requests": "default_max_parallel_requests is not supported",
        "default_priority": "request priorities are not supported",
        "polling_interval": "request priorities are not supported",
    },
    "litellm_params": {
        "max_budget": "per-deployment budgets are not supported",
        "budget_duration": "per-deployment budgets are not supported",
        "max_parallel_requests": "per-deployment parallel limits are not supported (use rpm/tpm)",
        "tags": "tag-based routing is not supported",
    },
}

NO_EFFECT: dict[str, frozenset[str]] = {
    "general_settings": frozenset({
        "alerting", "alerting_threshold", "alert_types", "alert_to_webhook_url", "alerting_args", "slack_alerting",
        "ui_access_mode", "proxy_batch_write_at", "database_connection_pool_limit",
        "database_connection_timeout", "disable_master_key_return", "disable_reset_budget", "disable_prisma_schema_update",
        "disable_adding_master_key_hash_to_db", "background_health_checks", "use_redis_transaction_buffer",
        "infer_model_from_keys", "proxy_budget_rescheduler_min_time", "proxy_budget_rescheduler_max_time",
        "spend_report_frequency", "disable_retry_on_max_parallel_request_limit_error",
        "disable_error_logs", "health_check_details", "mcp_servers", "embedding_model",
    }),
    "litellm_settings": frozenset({"telemetry", "set_verbose_level", "suppress_debug_info", "log_raw_request_response",
                                   "enable_preview_features", "service_callback"}),
    "router_settings": frozenset({"router_general_settings", "alerting_config", "cache_kwargs", "client_ttl"}),
}


def _on(value: Any) -> bool:
    """A setting left off (false, empty, null) changes nothing, so it need not be refused."""
    return value not in (None, False, "", [], {}, 0) and str(value).strip().lower() not in ("false", "0", "no")


def refusal(section: str, key: str, value: Any) -> str | None:
    """The start-up error for a setting polyrelay would otherwise ignore while it changes calls."""
    why = REFUSED.get(section, {}).get(key)
    if why is None or not _on(value):
        return None
    return f"{section}.{key}: {why}. Remove it, or set it off, to start."


def is_no_effect(section: str, key: str) -> bool:
    return key in NO_EFFECT.get(section, ())
